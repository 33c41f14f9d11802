"""The ``hxrg`` command: parser assembly, and the error boundary every sub-command runs inside.

A failure caused by the user's files, options or environment (an
:class:`~hxrg_denoiser.errors.HxrgError`, or an ``OSError`` such as a full
disk or a permission refused) is printed as one line naming the file or
option, with exit status 2; anything else is a programming error and keeps
its traceback. SIGTERM is handled like Ctrl-C: outputs being written are
removed (they are temporaries until renamed) and training checkpoints saved.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence

from tqdm.contrib.logging import logging_redirect_tqdm

from hxrg_denoiser._version import __version__
from hxrg_denoiser.cli import bench, denoise, fit, models, simulate
from hxrg_denoiser.cli.options import common_options
from hxrg_denoiser.errors import HxrgError, one_line

__all__ = ["main", "build_parser", "OneLineParser"]

COMMAND_MODULES = (fit, simulate, denoise, models, bench)


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (the usage is one ``--help`` away), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Callable[[argparse.Namespace], int]]]:
    """The argument parser of every sub-command, and the function that runs each."""
    common = common_options()
    parser = OneLineParser(
        prog="hxrg", parents=[common],
        description="Science images from HxRG up-the-ramp cubes: classical estimators and deep denoisers. "
        "`hxrg COMMAND --help` explains each command.",
    )
    parser.add_argument("--version", action="version", version=f"hxrg-denoiser {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    runners: dict[str, Callable[[argparse.Namespace], int]] = {}
    for module in COMMAND_MODULES:
        runners.update(module.register(sub, common))
    return parser, runners


class _Terminated(KeyboardInterrupt):
    """SIGTERM, delivered as an interruption so that every cleanup path runs."""


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise _Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _error_line(err: BaseException) -> str:
    """An OSError as ``FILE: reason``; anything else as its message on one line."""
    if isinstance(err, OSError) and not isinstance(err, HxrgError) and err.strerror:
        where = err.filename if err.filename is not None else ""
        return f"{where}: {err.strerror}" if where else err.strerror
    return one_line(err)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hxrg`` console script; returns the exit status."""
    parser, runners = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    args.verbose = getattr(args, "verbose", False)
    args.quiet = getattr(args, "quiet", False)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    # log lines printed above a progress bar, not through it (tqdm's handler; none without bars)
    bars_safe = contextlib.nullcontext() if args.quiet else logging_redirect_tqdm()
    with _sigterm_as_interrupt(), bars_safe:
        try:
            return runners[args.command](args)
        except (HxrgError, OSError) as err:
            print(f"hxrg {args.command}: error: {_error_line(err)}", file=sys.stderr)
            return 2
        except _Terminated:
            print(f"hxrg {args.command}: terminated", file=sys.stderr)
            return 143
        except KeyboardInterrupt:
            print(f"hxrg {args.command}: interrupted", file=sys.stderr)
            return 130
