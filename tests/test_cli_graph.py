"""The sqdm CLI's models/graph commands: output, files written, one-line errors with exit status 2."""
import subprocess
import sys

import pytest

from des.cli import main
from workloads import read_graph


def test_models_lists_zoo(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ("ddpm-cifar10", "edm-cifar10", "adm-imagenet64", "sd15-unet", "tiny-digits"):
        assert name in out


def test_graph_summary_writes_file(tmp_path, capsys):
    out = tmp_path / "t.json"
    assert main(["graph", "tiny-digits", "--activation", "relu", "--summary", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "total" in text and "GMAC" in text and str(out) in text
    g = read_graph(out)
    assert g.graph["config"]["activation"] == "relu"


@pytest.mark.parametrize("argv,match", [
    (["graph", "nope"], "unknown model 'nope'"),
    (["graph", "tiny-digits", "--resolution", "7"], "resolution 7 not supported"),
    (["graph", "tiny-digits", "--batch", "-1"], "--batch: -1 is outside"),
    (["graph", "tiny-digits", "--out", "/proc/forbidden/x.json"], "cannot write"),
])
def test_graph_bad_input_one_line(argv, match, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sqdm: error:") and match in err and "\n" not in err


def test_console_script_no_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "des.cli", "graph", "nope"], capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1
