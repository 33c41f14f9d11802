"""The ``hxrg`` command-line tool: a thin layer over the Python API (one module per group of commands)."""

from hxrg_denoiser.cli.main import build_parser, main

__all__ = ["main", "build_parser"]
