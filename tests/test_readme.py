"""The README's Python examples run as written, so that they cannot rot."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    """The fenced ``python`` code blocks of a Markdown text."""
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_readme_python_examples_run(tmp_path, monkeypatch, capsys):
    blocks = python_blocks(README.read_text())
    assert blocks, "the README has Python examples"
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, str(README), "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out
    assert "utr_ref_seed (64, 4096)" in printed
    assert (tmp_path / "example" / "flux.fits").is_file()
