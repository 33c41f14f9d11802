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


def hxrg_command_lines(text: str) -> list[list[str]]:
    """Every ``hxrg ...`` command of the README's ``bash`` blocks, as arguments (comments and ``[...]`` dropped)."""
    import shlex

    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\[[^\]]*\]", "", line.split(" #")[0]).strip()
            if line.startswith("hxrg "):
                lines.append(shlex.split(line)[1:])
    return lines


def test_readme_command_lines_parse():
    """Every option the README shows exists and takes the values it is given there."""
    from hxrg_denoiser.cli.main import build_parser

    parser, _ = build_parser()
    commands = hxrg_command_lines(README.read_text())
    assert len(commands) > 20
    for argv in commands:
        try:
            parser.parse_args(argv)
        except SystemExit as stop:
            raise AssertionError(f"README command does not parse: hxrg {' '.join(argv)}") from stop
