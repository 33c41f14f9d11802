"""Pages the documentation generates when it is built, so that they cannot drift from the code or the data.

- ``_generated/cli.md``: every ``hxrg`` command's ``--help``, from the argument parser itself.
- ``_generated/results-*.md``: the benchmark tables, from the ``metrics.json`` files kept in ``docs/results``
  (each written by ``hxrg bench``; :mod:`results_tables` turns one into Markdown with its date, commit and
  machine).
"""

from __future__ import annotations

import os
from pathlib import Path

from results_tables import results_page

DOCS = Path(__file__).resolve().parents[1]
GENERATED = DOCS / "_generated"


def cli_reference() -> str:
    """Markdown: ``hxrg --help`` and each command's ``--help`` in a literal block."""
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal: fixed, so the page is the same everywhere
    from hxrg_denoiser.cli.main import build_parser

    parser, _ = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    parts = ["# Command-line reference", "",
             "Generated from the argument parser when these pages are built: what `hxrg COMMAND --help` prints.",
             "", "## hxrg", "", "```text", parser.format_help().rstrip(), "```", ""]
    for name, command in commands.items():
        parts += [f"## hxrg {name}", "", "```text", command.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


def _write(path: Path, text: str) -> None:
    """Write ``text`` unless the file holds it already (an unchanged page is not rebuilt)."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def generate(app) -> None:
    GENERATED.mkdir(exist_ok=True)
    _write(GENERATED / "cli.md", cli_reference())
    for metrics in sorted((DOCS / "results").glob("*.json")):
        _write(GENERATED / f"results-{metrics.stem}.md", results_page(metrics))


def setup(app):
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True, "version": "1"}
