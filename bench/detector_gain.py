"""What the sparsity detector buys on one workload: SQ-DM against the same machine with the detector off.

Run: ``python bench/detector_gain.py [--workload ddpm-cifar10] [--steps 20]``. Prints, for per-step and oracle
labels, the speed-up over the whole network and over the MAC layers alone (the scope of a layer simulator
such as STONNE), the share of MACs skipped, and the same machine at 0% zeros against detector off (balanced
placement must make that about 1.0x).
"""
from __future__ import annotations

import argparse

from des.run import RunSpec, run

CASES = (("detector off", ("detector.policy=off",), None), ("per-step labels", (), None),
         ("oracle labels", ("detector.policy=oracle",), None), ("0% zeros", (), 0.0),
         ("0% zeros, detector off", ("detector.policy=off",), 0.0))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", default="ddpm-cifar10")
    ap.add_argument("--steps", type=int, default=20)
    a = ap.parse_args()
    reps = {name: run(RunSpec(hw="sqdm", workload=a.workload, steps=a.steps, overrides=ov, synthetic_mean=mean),
                      progress=False) for name, ov, mean in CASES}
    print(f"{a.workload}, {a.steps} evaluations, sqdm")
    print("| run | cycles (M) | MAC-layer cycles (M) | MACs skipped | speed-up over detector off | MAC layers |")
    print("|---|---|---|---|---|---|")
    for name, _, mean in CASES:
        r = reps[name]
        ref = reps["0% zeros, detector off" if mean == 0.0 else "detector off"]
        print(f"| {name} | {r.total_cycles / 1e6:,.2f} | {r.mac_layer_cycles / 1e6:,.2f} | "
              f"{r.macs['skipped_macs'] / r.macs['graph_macs']:.1%} | {ref.total_cycles / r.total_cycles:.3f}x | "
              f"{ref.mac_layer_cycles / r.mac_layer_cycles:.3f}x |")


if __name__ == "__main__":
    main()
