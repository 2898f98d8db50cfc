"""The ``sqdm`` command line: a thin layer over the packages' public APIs.

Every error a user can cause (unknown model, bad file, invalid config, a number out of its bounds, a bad
command line, an output path that cannot be written, ...) is raised by the packages as a ``ValueError``
subclass with a one-line message, or by argparse; :func:`main` prints it as one line
``sqdm: error: ...`` and returns status 2, never a traceback. Around that:

* warnings of libraries (torch, numpy, ...) raised during a command are held back; they are shown after a
  command that succeeds and dropped on the error path, where progress bars are cleared too, so an error is
  the only line a user sees;
* Ctrl-C at any point (imports included: this module and ``des/__init__`` import nothing heavy) prints
  ``sqdm: interrupted`` and returns 130 (128 + SIGINT, what shells expect of an interrupted program), also
  when the interrupt landed where Python cannot raise it (a weakref callback of the import system prints
  "Exception ignored" and goes on) or a library turned it into another error (:class:`_Interrupts`);
* a closed stdout (``| head``) is not an error: commands write their files before printing anything;
* ``--help`` prints the help and raises ``SystemExit(0)``, as argparse does.
"""
from __future__ import annotations

import argparse
import sys
import unicodedata
import warnings
from typing import Callable, Sequence

_PROJECT_PACKAGES = {"workloads", "quant", "components", "des", "plots"}
_MAX_ERROR_CHARS = 2000
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
    from .limits import batch_arg, resolution_arg
    p.add_argument("model", help="zoo model name (see 'sqdm models')")
    p.add_argument("--resolution", type=resolution_arg, default=None,
                   help="input resolution in pixels (default: model's)")
    p.add_argument("--activation", choices=["relu", "silu"], default="silu")
    p.add_argument("--batch", type=batch_arg, default=1, help="images per network evaluation")
    p.add_argument("--cfg", action="store_true", help="classifier-free guidance (doubles the batch)")
    p.add_argument("--out", default=None,
                   help="workload file to write (default: <model>-<activation>.workload.json)")
    p.add_argument("--summary", action="store_true", help="print the per-block table")


def _graph_run(args: argparse.Namespace) -> int:
    from components.fileio import check_output_path
    from workloads import block_summary, build_workload, write_graph
    out = check_output_path(f"{args.model}-{args.activation}.workload.json" if args.out is None else args.out,
                            "--out")
    g = build_workload(args.model, resolution=args.resolution, activation=args.activation, batch=args.batch,
                       cfg=args.cfg)
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


class UsageError(ValueError):
    """A command line argparse refuses (unknown option, a value out of its bounds, ...)."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises :class:`UsageError` instead of printing usage and exiting."""

    def error(self, message: str):  # type: ignore[override]
        cmd = self.prog[len("sqdm"):].strip() if self.prog.startswith("sqdm") else self.prog
        raise UsageError(f"{cmd}: {message}" if cmd else message)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand.

    With ``command`` (a registered name), only that subcommand's arguments are configured: the others are
    listed (``sqdm --help``) but their ``configure`` functions, some of which import torch or pandas, do not
    run, so ``sqdm simulate`` starts without them. Any other ``command`` configures every subcommand.
    """
    _load_command_modules()
    only = command if command in COMMANDS else None
    parser = _Parser(prog="sqdm", description="SQ-DM accelerator simulator")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (configure, _, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        if only is None or name == only:
            configure(p)
    return parser


def _is_user_error(e: BaseException) -> bool:
    if isinstance(e, OSError):
        return True
    mod = type(e).__module__.split(".")[0]
    return isinstance(e, ValueError) and (mod in _PROJECT_PACKAGES or mod == "pydantic_core")


def one_line(text: str) -> str:
    """``text`` as one printable line: whitespace runs become one space, other control characters are escaped
    (a file name cannot move the cursor or start a new line), at most 2,000 characters."""
    flat = " ".join(text.split())
    out = "".join(ch if unicodedata.category(ch) != "Cc" else ascii(ch)[1:-1] for ch in flat)
    return out if len(out) <= _MAX_ERROR_CHARS else out[: _MAX_ERROR_CHARS - 3] + "..."


def _clear_progress_bars() -> None:
    """Remove unfinished tqdm bars from the terminal (nothing but the error line is left on the error path)."""
    tqdm_mod = sys.modules.get("tqdm")
    bars = getattr(getattr(tqdm_mod, "tqdm", None), "_instances", None)
    for bar in list(bars or ()):
        try:
            bar.leave = False
            bar.close()
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass


def _fail(msg: str) -> int:
    _clear_progress_bars()
    print(f"sqdm: error: {one_line(msg) or 'failed'}", file=sys.stderr)
    return 2


class _Interrupts:
    """Ctrl-C while a command runs, made reliable.

    The SIGINT handler raises KeyboardInterrupt as Python's own does, and remembers it. An interrupt raised
    inside a callback (a weakref callback of the import lock, a ``__del__``) cannot propagate: Python hands it
    to ``sys.unraisablehook``, prints "Exception ignored" and runs on, so an interrupted command would finish
    with status 0. The hook installed here keeps that off the terminal and delivers the interrupt again, to be
    raised in ordinary code; and :func:`main` reports any interrupt it saw, whatever error it became.
    """

    _REDELIVER_S = 0.02  # how long after a swallowed Ctrl-C it is raised again: long enough to leave the hook

    def __init__(self) -> None:
        self.seen = False
        self._closed = False
        self._in_hook = False
        self._timers: list = []
        self._previous_handler = None
        self._previous_hook = None

    def __enter__(self) -> "_Interrupts":
        import signal
        import threading
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous_handler = signal.signal(signal.SIGINT, self._on_sigint)
            self._previous_hook = sys.unraisablehook
            sys.unraisablehook = self._on_unraisable
        return self

    def _on_sigint(self, signum, frame) -> None:
        if self._closed:  # a delivery still pending when the command ended: it was already reported
            return
        self.seen = True
        if self._in_hook:  # raising here would only be swallowed again: deliver it once the hook has returned
            self._deliver_later()
            return
        raise KeyboardInterrupt

    def _on_unraisable(self, unraisable) -> None:
        if not (isinstance(unraisable.exc_value, KeyboardInterrupt) or unraisable.exc_type is KeyboardInterrupt):
            self._previous_hook(unraisable)
            return
        self._in_hook = True
        try:
            self.seen = True
            self._deliver_later()
        finally:
            self._in_hook = False

    def _deliver_later(self) -> None:
        """SIGINT again from a helper thread, after the hook or callback that swallowed it has returned."""
        import _thread
        import threading
        timer = threading.Timer(self._REDELIVER_S, _thread.interrupt_main)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def __exit__(self, *exc) -> None:
        self._closed = True
        for timer in self._timers:  # none may fire once Python's own handler is back
            timer.cancel()
            timer.join()
        if self._previous_handler is not None:
            import signal
            _let_pending_signals_run()  # while this handler, which now ignores them, is still installed
            signal.signal(signal.SIGINT, self._previous_handler)
            sys.unraisablehook = self._previous_hook


def _let_pending_signals_run() -> None:
    """Python runs pending signal handlers when a Python function starts: this is one."""


def _interrupted() -> int:
    _clear_progress_bars()
    print("sqdm: interrupted", file=sys.stderr)
    return 130


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sqdm`` console script; returns the exit status (see the module docstring)."""
    with _Interrupts() as interrupts:
        try:
            status = _main_body(argv, interrupts)
        except KeyboardInterrupt:  # delivered again after the body had finished
            return _interrupted()
        return _interrupted() if interrupts.seen and status != 130 else status


def _main_body(argv: Sequence[str] | None, interrupts: _Interrupts) -> int:
    """:func:`main` within its interrupt bookkeeping."""
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            argv = list(sys.argv[1:] if argv is None else argv)
            args = build_parser(argv[0] if argv else None).parse_args(argv)
            status = COMMANDS[args.command][1](args)
    except KeyboardInterrupt:
        return _interrupted()
    except BrokenPipeError:  # output piped into a reader that stopped (e.g. head): files are already written
        import os
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 0
    except UsageError as e:
        return _interrupted() if interrupts.seen else _fail(str(e))
    except MemoryError:
        return _interrupted() if interrupts.seen else _fail(
            "out of memory; use a smaller --steps, --batch, --resolution or --samples (des/limits.py)")
    except Exception as e:  # noqa: BLE001 - user errors become one line; bugs keep their traceback
        if interrupts.seen:  # a Ctrl-C that a library turned into another error: that is what to report
            return _interrupted()
        if not _is_user_error(e):
            raise
        return _fail(str(e).strip() or type(e).__name__)
    for w in caught:  # held back during the command: shown only after a success
        warnings.showwarning(w.message, w.category, w.filename, w.lineno, w.file, w.line)
    return status


if __name__ == "__main__":  # python -m des.cli: run the imported module, whose COMMANDS the cmd_* modules fill
    from des.cli import main as _main
    sys.exit(_main())
