"""Headline comparisons of the shipped machines on the quick-start workload, with the numbers the
simulator gave before the physical-fidelity work (commit 58620fc, README of that commit) beside them.

Run: ``python bench/headline.py [--steps 100]``. Prints a Markdown table: cycles, energy, speed-up and
energy reduction vs ``fp16-dense``, and SQ-DM against each machine.
"""
from __future__ import annotations

import argparse

from des.run import RunSpec, run

MACHINES = ("sqdm", "int4-dense", "int4vsq-dense", "fp16-dense")
# Measured at commit 58620fc (ddpm-cifar10, 100 evaluations, same policies): cycles, energy (mJ).
BEFORE = {"sqdm": (381_807_253, 333.9), "int4-dense": (238_438_450, 333.6),
          "int4vsq-dense": (240_104_400, 348.7), "fp16-dense": (1_069_102_500, 1301.4)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100)
    a = ap.parse_args()
    now = {hw: run(RunSpec(hw=hw, workload="ddpm-cifar10", steps=a.steps), progress=False) for hw in MACHINES}
    f_now = now["fp16-dense"]
    f_before = BEFORE["fp16-dense"]
    s_now, s_before = now["sqdm"], BEFORE["sqdm"]
    print("| machine | cycles before | cycles now | energy before (mJ) | energy now (mJ) | speed-up vs FP16 before -> now "
          "| energy reduction vs FP16 before -> now | SQ-DM speed-up over it before -> now |")
    print("|---|---|---|---|---|---|---|---|")
    for hw in MACHINES:
        r, (cb, eb) = now[hw], BEFORE[hw]
        e = r.energy_pj / 1e9
        print(f"| `{hw}` | {cb:,.0f} | {r.total_cycles:,.0f} | {eb:,.1f} | {e:,.1f} | "
              f"{f_before[0] / cb:.2f}x -> {f_now.total_cycles / r.total_cycles:.2f}x | "
              f"{100 * (1 - eb / f_before[1]):.1f}% -> {100 * (1 - r.energy_pj / f_now.energy_pj):.1f}% | "
              f"{cb / s_before[0]:.2f}x -> {r.total_cycles / s_now.total_cycles:.2f}x |")
    sk = s_now.macs
    print(f"\n`sqdm` now: {sk['skipped_macs'] / 1e9:.1f} G of {sk['graph_macs'] / 1e9:.1f} G MACs skipped, "
          f"label accuracy {100 * s_now.detector['label_accuracy']:.1f}%")


if __name__ == "__main__":
    main()
