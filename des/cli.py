"""The ``sqdm`` command line: a thin layer over the packages' public APIs.

Every error a user can cause (unknown model, bad file, invalid config, ...) is raised by the packages as
a ``ValueError`` subclass with a one-line message; :func:`main` prints it as ``sqdm: error: ...`` and
exits with status 2, never with a traceback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

_PROJECT_PACKAGES = {"workloads", "quant", "components", "des", "plots"}
COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int], str]] = {}


def register(name: str, help: str, configure: Callable[[argparse.ArgumentParser], None],
             run: Callable[[argparse.Namespace], int]) -> None:
    """Add subcommand ``name``: ``configure(parser)`` adds its arguments, ``run(args)`` returns the exit status."""
    COMMANDS[name] = (configure, run, help)


def _fmt_g(x: float) -> str:
    return f"{x / 1e9:,.3f}"


def _fmt_m(x: float) -> str:
    return f"{x / 1e6:,.3f}"


# -- sqdm models ------------------------------------------------------------------------------------
def _models_args(p: argparse.ArgumentParser) -> None:
    pass


def _models_run(args: argparse.Namespace) -> int:
    from workloads import ZOO
    width = max(len(n) for n in ZOO)
    for name, e in ZOO.items():
        print(f"{name:<{width}}  res {e.default_resolution:>3}  {e.description}")
    return 0


# -- sqdm graph -------------------------------------------------------------------------------------
def _graph_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="zoo model name (see 'sqdm models')")
    p.add_argument("--resolution", type=int, default=None, help="input resolution in pixels (default: model's)")
    p.add_argument("--activation", choices=["relu", "silu"], default="silu")
    p.add_argument("--batch", type=int, default=1, help="images per network evaluation")
    p.add_argument("--cfg", action="store_true", help="classifier-free guidance (doubles the batch)")
    p.add_argument("--out", type=Path, default=None,
                   help="workload file to write (default: <model>-<activation>.workload.json)")
    p.add_argument("--summary", action="store_true", help="print the per-block table")


def _graph_run(args: argparse.Namespace) -> int:
    from workloads import block_summary, build_workload, write_graph
    g = build_workload(args.model, resolution=args.resolution, activation=args.activation, batch=args.batch,
                       cfg=args.cfg)
    out = args.out or Path(f"{args.model}-{args.activation}.workload.json")
    write_graph(g, out)
    if args.summary:
        df = block_summary(g)
        table = df.assign(macs_g=df.macs.map(_fmt_g), parameters_m=df.parameters.map(_fmt_m),
                          activation_elements_m=df.activation_elements.map(_fmt_m))
        cols = ["block", "operations", "macs_g", "parameters_m", "activation_elements_m", "sparse_eligible_ops"]
        print(table[cols].rename(columns={"macs_g": "GMAC", "parameters_m": "params (M)",
                                          "activation_elements_m": "act. elems (M)",
                                          "sparse_eligible_ops": "sparse-eligible"}).to_string(index=False))
    c = g.graph["config"]
    print(f"{args.model}: {g.number_of_nodes()} ops, {_fmt_g(g.graph['macs'])} GMAC per evaluation, "
          f"{_fmt_m(g.graph['parameters'])} M parameters (resolution {c['resolution']}, batch "
          f"{c['effective_batch']}, {c['activation']}); wrote {out}")
    return 0


register("models", "list the model zoo", _models_args, _models_run)
register("graph", "extract a zoo model's workload graph", _graph_args, _graph_run)


def _load_command_modules() -> None:
    """Import every ``des/cmd_*.py`` module; each registers its subcommands in :data:`COMMANDS`."""
    import importlib
    import pkgutil

    import des
    for info in sorted(pkgutil.iter_modules(des.__path__), key=lambda i: i.name):
        if info.name.startswith("cmd_"):
            importlib.import_module(f"des.{info.name}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    _load_command_modules()
    parser = argparse.ArgumentParser(prog="sqdm", description="SQ-DM accelerator simulator")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (configure, _, help_) in COMMANDS.items():
        configure(sub.add_parser(name, help=help_, description=help_))
    return parser


def _is_user_error(e: BaseException) -> bool:
    if isinstance(e, OSError):
        return True
    mod = type(e).__module__.split(".")[0]
    return isinstance(e, ValueError) and (mod in _PROJECT_PACKAGES or mod == "pydantic_core")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sqdm`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command][1](args)
    except KeyboardInterrupt:
        print("sqdm: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into a reader that stopped (e.g. head): not an error
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:  # noqa: BLE001 - user errors become one line; bugs keep their traceback
        if not _is_user_error(e):
            raise
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"sqdm: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
