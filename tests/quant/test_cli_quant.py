"""sqdm quantize / profile / quality / train-digits: exit 0 on small settings, 2 with one line on bad input."""
import pytest

from des.cli import main
from workloads import SparsityProfile, build_workload, read_graph


def test_quantize_writes_annotated_graph(tmp_path, capsys):
    out = tmp_path / "g.json"
    assert main(["quantize", "--policy", "sqdm", "--out", str(out)]) == 0
    assert "at 8 bit" in capsys.readouterr().out
    g = read_graph(out)
    assert g.graph["precision"]["policy"] == "sqdm"
    assert all("act_format" in d for _, d in g.nodes(data=True) if d.get("kind") in ("conv", "linear", "matmul"))


def test_profile_small(tmp_path, capsys):
    out = tmp_path / "p.npz"
    assert main(["profile", "--steps", "3", "--samples", "8", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "mean zero fraction" in text and "fitted" in text
    prof = SparsityProfile.load(out)
    prof.attach(build_workload("tiny-digits", activation="relu"))
    assert out.with_suffix(".png").exists()


def test_quality_small(tmp_path, capsys):
    out = tmp_path / "q.csv"
    assert main(["quality", "--samples", "6", "--seeds", "1", "--steps", "2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "SQ-DM mixed W4A4 ReLU" in text and out.exists()


@pytest.mark.parametrize("argv,match", [
    (["quantize", "--policy", "no-such-policy"], "no such file or built-in"),
    (["profile", "--policy", "missing.yaml", "--steps", "2", "--samples", "2"], "no such file"),
    (["profile", "--steps", "0"], "steps"),
    (["quality", "--samples", "1"], "samples"),
    (["train-digits", "--steps", "0"], "steps"),
])
def test_bad_input_one_line(argv, match, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sqdm: error:") and match in err and "\n" not in err
