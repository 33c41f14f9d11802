"""The README's and the documentation's examples run as written, so that they cannot rot."""

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))


def python_blocks(text: str) -> list[str]:
    """The fenced ``python`` code blocks of a Markdown text."""
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def run_blocks(path: Path) -> None:
    for block in python_blocks(path.read_text()):
        exec(compile(block, str(path), "exec"), {"__name__": "readme"})


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert python_blocks(README.read_text()), "the README has a Python example"
    run_blocks(README)
    assert "utr_ref_seed (64, 4096) (64, 4096)" in capsys.readouterr().out


def test_docs_python_examples_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    pages = [page for page in PAGES if python_blocks(page.read_text())]
    assert ROOT / "docs" / "getting-started.md" in pages
    for page in pages:
        run_blocks(page)
    assert "utr_ref_seed (64, 4096)" in capsys.readouterr().out
    assert (tmp_path / "example" / "flux.fits").is_file()


def hxrg_command_lines(text: str) -> list[list[str]]:
    """Every ``hxrg ...`` command of a text's ``bash`` blocks, as arguments (comments and ``[...]`` dropped)."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\[[^\]]*\]", "", line.split(" #")[0]).strip()
            if line.startswith("hxrg "):
                lines.append(shlex.split(line)[1:])
    return lines


@pytest.mark.parametrize("path", [README] + PAGES, ids=lambda p: p.name)
def test_command_lines_parse(path):
    """Every option the README and the documentation show exists and takes the values they give it."""
    from hxrg_denoiser.cli.main import build_parser

    parser, _ = build_parser()
    for argv in hxrg_command_lines(path.read_text()):
        try:
            parser.parse_args(argv)
        except SystemExit as stop:
            raise AssertionError(f"{path.name}: command does not parse: hxrg {' '.join(argv)}") from stop


def test_there_are_command_lines_to_check():
    assert len(hxrg_command_lines(README.read_text())) >= 8
    assert sum(len(hxrg_command_lines(page.read_text())) for page in PAGES) > 30


@pytest.mark.parametrize("path", sorted((ROOT / "docs" / "results").glob("*.json")), ids=lambda p: p.stem)
def test_every_result_file_renders_a_table_with_its_run_record(path, monkeypatch):
    """The documentation's result pages are generated from these files: each gives when and with which commit
    it ran, and a table whose every row has as many cells as its header."""
    monkeypatch.syspath_prepend(str(ROOT / "docs" / "_ext"))
    from results_tables import results_page

    page = results_page(path)
    assert re.search(r"commit `[0-9a-f]{40}`", page), "a run record with its commit"
    rows = [line for line in page.splitlines() if line.startswith("|")]
    assert len(rows) >= 3
    header = None
    for line in rows:
        if header is None or line.startswith("| method") or line.startswith("| command") or line.startswith("| model") \
                or line.startswith("| |"):
            header = line.count("|")
        assert line.count("|") == header, line
