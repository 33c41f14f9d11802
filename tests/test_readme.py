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


@pytest.mark.integration
def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert python_blocks(README.read_text()), "the README has a Python example"
    run_blocks(README)
    assert "utr_ref_seed (64, 4096) (64, 4096)" in capsys.readouterr().out


@pytest.mark.integration
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


README_FAMILIES = {  # the README's row labels, the bench-v3 families they stand for
    "star field (NIRPS H4RG)": "stars-nirps",
    "imaging with a sky gradient (JWST H2RG)": "imaging-jwst",
    "crowded field (`h2rg-32`)": "crowded-h2rg32",
    "reset anomaly on a star field": "reset-stars",
    "IPC, telegraph pixels, non-linearity": "ipc-rts-nonlinear",
}
CARD = ROOT / "src" / "hxrg_denoiser" / "models" / "shipped" / "default.md"
CARD_COLUMNS = ("pixel_vs_best", "box7_vs_best", "bgsub_vs_best", "phot_raw_vs_best", "phot_local_vs_best",
                "lit_minus_dark", "bgsub_over_oracle")


def _default_targets() -> dict[str, dict]:
    import json
    document = json.loads((ROOT / "docs" / "results" / "bench-v3.json").read_text())
    return {t["family"]: t for t in document["targets"] if t["model"] == "default"}


def _table_rows(text: str, first_cell: str) -> list[list[str]]:
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in text.splitlines()
            if line.startswith("|")]
    return [row for row in rows if row[0] == first_cell or first_cell == "*"]


def _figure(cell: str) -> float | None:
    cell = cell.strip("*")
    return None if cell == "-" else float(cell)


def test_readme_figures_are_the_benchmark_files():
    """The README's bench-v3 table and its ranges are docs/results/bench-v3.json's (the run the model card and
    the results page show), to their printed decimals: a rerun that moves them fails here until they follow."""
    targets = _default_targets()
    text = README.read_text()
    rows = {row[0]: row for row in _table_rows(text, "*") if row[0] in README_FAMILIES}
    assert set(rows) == set(README_FAMILIES)
    for label, row in rows.items():
        target = targets[README_FAMILIES[label]]
        for cell, key in zip(row[1:], ("pixel_vs_best", "phot_raw_vs_best", "phot_local_vs_best")):
            assert cell == f"{target[key]:.3f}", (label, key, cell, target[key])
    pixel = [t["pixel_vs_best"] for t in targets.values()]
    raw = [t["phot_raw_vs_best"] for t in targets.values() if t["phot_raw_vs_best"] is not None]
    assert f"is {min(pixel):.2f}-{max(pixel):.3f}x the best classical fit's" in text
    assert f"photometry\n{min(raw):.2f}-{max(raw):.2f}x" in text or f"photometry {min(raw):.2f}-{max(raw):.2f}x" in text


def test_model_card_bench_v3_rows_are_the_benchmark_file():
    """The model card's rows for the shipped weights (``these``) are docs/results/bench-v3.json's targets."""
    targets = _default_targets()
    rows = _table_rows(CARD.read_text(), "these")
    assert {row[1] for row in rows} == set(targets)
    for row in rows:
        target = targets[row[1]]
        for cell, key in zip(row[2:], CARD_COLUMNS):
            expected = target.get(key)
            assert (_figure(cell) is None) == (expected is None), (row[1], key)
            if expected is not None:
                assert abs(_figure(cell) - expected) <= 0.0005 + 1e-9, (row[1], key, cell, expected)


def test_models_command_figures_are_the_benchmark_file():
    """What ``hxrg models`` prints for bench-v3 (the shipped JSON's ``training.bench``) is the benchmark file's."""
    import json
    targets = _default_targets()
    spec = json.loads(CARD.with_suffix(".json").read_text())
    line = spec["training"]["bench"]["bench-v3 worst seed, ratio to the best classical fit"]
    assert f"crowded field {targets['crowded-h2rg32']['phot_raw_vs_best']:.3f}" in line
    assert f"IPC/RTS/non-linear {targets['ipc-rts-nonlinear']['phot_raw_vs_best']:.3f}" in line
    assert f"long slit {targets['long-slit-jwst']['lit_minus_dark']:.3f} e-" in line
    assert f"pixel RMS <= {max(t['pixel_vs_best'] for t in targets.values()):.3f}" in line
