"""The training script runs end to end (a few steps) and its weights load."""
import torch

from quant import load_classifier, load_digits_unet
from quant.train_digits import main


def test_train_digits_smoke(tmp_path):
    out = tmp_path / "w"
    assert main(["--steps", "50", "--batch", "8", "--relu-steps", "5", "--shift-steps", "5",
                 "--classifier-epochs", "1", "--out", str(out)]) == 0
    for a in ("silu", "relu", "relu-plain"):
        m = load_digits_unet(a, out)
        with torch.no_grad():
            assert torch.isfinite(m(torch.zeros(1, 1, 8, 8), torch.tensor([10.0]))).all()
    assert load_digits_unet("relu", out).relu_shift == 0.3
    assert 0 <= load_classifier(out).meta["test_accuracy"] <= 1


def test_train_digits_bad_args(capsys):
    assert main(["--steps", "0"]) == 2
    assert "error" in capsys.readouterr().err


def test_tradeoff_smoke(tmp_path):
    from quant.tradeoff import main as tradeoff_main
    out = tmp_path / "t.csv"
    assert tradeoff_main(["--shifts", "0,0.3", "--steps", "2", "--samples", "8", "--sample-steps", "2",
                          "--out", str(out)]) == 0
    import pandas as pd
    df = pd.read_csv(out)
    assert list(df["shift"]) == [0.0, 0.3] and out.with_suffix(".png").exists()
    assert tradeoff_main(["--shifts", "x"]) == 2
