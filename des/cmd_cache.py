"""``sqdm cache info | clear``: the prepared-graph cache of zoo workloads (:mod:`workloads.cache`) and the
prepared tiling plans kept beside them (:mod:`des.plan_cache`)."""
from __future__ import annotations

import argparse

from .cli import register


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["info", "clear"],
                   help="info: where the cache is, its entries and size; clear: remove every entry")


def _run(args: argparse.Namespace) -> int:
    from workloads.cache import cache_dir, cache_entries, clear_cache
    folder = cache_dir()
    if folder is None:
        print("graph cache: off (set SQDM_CACHE_DIR to a folder to use one)")
        return 0
    if args.action == "clear":
        n, freed = clear_cache(folder)
        print(f"graph cache {folder}: removed {n} file(s), {freed / 1e6:,.2f} MB")
        return 0
    entries = cache_entries(folder)
    total = 0
    for p in entries:
        try:
            total += p.stat().st_size
        except OSError:
            pass
    plans = sum(1 for p in entries if p.suffix == ".plans")
    print(f"graph cache {folder}: {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, {total / 1e6:,.2f} MB "
          f"({len(entries) - plans} prepared graph(s), {plans} prepared plan(s))")
    for p in entries:
        print(f"  {p.name}")
    return 0


register("cache", "show or clear the prepared-graph cache (zoo graphs, extracted and policy-annotated; their "
         "tiling plans per machine)", _args,
         _run)
