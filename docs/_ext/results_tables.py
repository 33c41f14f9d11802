"""Markdown tables from a benchmark's ``metrics.json`` (as ``hxrg bench`` writes it, ``benchmarks/speed.py
--json``, or a comparison script's ``--json``), never edited by hand.

    python docs/_ext/results_tables.py METRICS.json        # prints the page

The documentation's build runs it on every file in ``docs/results`` (see ``hxrg_docs``). A page gives when,
with which commit and on which machine the benchmark ran (its ``run`` record), then per case group the mean
of each metric over its seeds (``mean / worst seed`` where the suite has families), then the targets.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

METRICS = (  # key, column label, format
    ("pixel_rms", "pixel RMS (e-)", "{:.3f}"),
    ("pixel_bias", "bias (e-)", "{:+.3f}"),
    ("spectrum_rms", "spectrum RMS (e-)", "{:.2f}"),
    ("spectrum_rms_box7", "7-row box spectrum (e-)", "{:.2f}"),
    ("spectrum_rms_bgsub", "bg-subtracted spectrum (e-)", "{:.2f}"),
    ("line_depth_bias", "line depth bias", "{:+.3f}"),
    ("flux_conservation", "max order flux error", "{:.4f}"),
    ("lit_minus_dark_bias", "lit-minus-dark (e-)", "{:+.3f}"),
    ("phot_raw_rms", "raw photometry (e-)", "{:.1f}"),
    ("phot_local_rms", "annulus photometry (e-)", "{:.1f}"),
    ("channel_spread", "channel-mean spread (e-)", "{:.3f}"),
    ("err_calibration", "std(error / ERR)", "{:.3f}"),
    ("spectrum_err_calibration", "spectra: std(error / ERR)", "{:.3f}"),
)
RATIOS = (("pixel_vs_best", "pixel"), ("box7_vs_best", "box spectrum"), ("bgsub_vs_best", "bg-sub spectrum"),
          ("phot_raw_vs_best", "raw photometry"), ("phot_local_vs_best", "annulus photometry"))


def _cell(fmt: str, mean, worst) -> str:
    if mean is None:
        return "-"
    return fmt.format(mean) if worst is None else f"{fmt.format(mean)} / {fmt.format(worst)}"


def group_table(methods: dict, worst: dict | None) -> list[str]:
    """One row per method, the metrics some method has."""
    shown = [m for m in METRICS if any(values.get(m[0]) is not None for values in methods.values())]
    lines = ["| method | " + " | ".join(label for _, label, _ in shown) + " |",
             "|---|" + "---:|" * len(shown)]
    for method, values in methods.items():
        worst_values = (worst or {}).get(method, {})
        cells = [_cell(fmt, values.get(key), worst_values.get(key) if worst else None) for key, _, fmt in shown]
        lines.append(f"| `{method}` | " + " | ".join(cells) + " |")
    return lines


def run_lines(run: dict | None) -> list[str]:
    if not run:
        return ["Run record: none (written by an hxrg older than the `run` record).", ""]
    machine, software = run.get("machine", {}), run.get("software", {})
    libraries = ", ".join(f"{k} {v}" for k, v in software.items())
    return [f"- date: {run.get('date')}; hxrg-denoiser {run.get('version')}, commit `{run.get('commit')}`",
            f"- command: `{run.get('command')}` ({run.get('seconds')} s)",
            f"- machine: {machine.get('cpus')} CPUs, {machine.get('processor')}; {machine.get('system')}; {libraries}",
            ""]


def targets_lines(targets: list[dict]) -> list[str]:
    """Each model's ratio to the best classical method per family (below 1: better), the target's verdict."""
    if not targets:
        return []
    shown = [r for r in RATIOS if any(t.get(r[0]) is not None for t in targets)]
    lines = ["## Against the best classical method", "",
             "Each model's error over the best classical method's, per family (mean over its seeds; below 1 is "
             "better), and whether the suite's target is met (yes / no).", "",
             "| model | family | " + " | ".join(label for _, label in shown) + " |",
             "|---|---|" + "---:|" * len(shown)]
    names = {"pixel_vs_best": "pixel", "box7_vs_best": "box7", "bgsub_vs_best": "bgsub",
             "phot_raw_vs_best": "phot_raw", "phot_local_vs_best": "phot_local"}
    for t in targets:
        cells = []
        for key, _ in shown:
            value, met = t.get(key), t.get("met", {}).get(names[key])
            cells.append("-" if value is None else f"{value:.3f}" + ("" if met is None else " yes" if met else " no"))
        lines.append(f"| `{t.get('model')}` | {t.get('family')} | " + " | ".join(cells) + " |")
    return lines + [""]


def speed_page(document: dict, name: str) -> str:
    """The Markdown page of a ``benchmarks/speed.py --json`` file: each command's time against the read floor."""
    parts = [f"# Speed: {document.get('title')}", "",
             f"Generated from `docs/results/{name}` when these pages are built.", ""]
    parts += run_lines(document.get("run"))
    parts += ["| command | wall s | x read floor | peak MB |", "|---|---:|---:|---:|"]
    for row in document.get("rows", []):
        parts.append(f"| {row['command']} | {row['wall_s']:.1f} | {row['x_read_floor']:.1f} | {row['peak_mb']:.0f} |")
    return "\n".join(parts + [""])


def _value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def comparison_page(document: dict, name: str) -> str:
    """The Markdown page of a comparison script's ``--json`` file (``benchmarks/bench_jumps_vs_stcal.py``,
    ``bench_optimal_vs_likely.py``): its settings, then one column per method and one row per figure."""
    parts = [f"# {document.get('title')}", "", f"Generated from `docs/results/{name}` when these pages are built.",
             ""]
    parts += run_lines(document.get("run"))
    settings = {k: v for k, v in document.items() if k not in ("suite", "title", "run", "results")}
    parts += [f"- {key}: {_value(value) if not isinstance(value, list) else ' x '.join(map(str, value))}"
              for key, value in settings.items()] + [""]
    results = document.get("results", [])
    keys = [k for k in (results[0] if results else {}) if k != "method"]
    parts += ["| | " + " | ".join(f"`{r.get('method')}`" for r in results) + " |",
              "|---|" + "---:|" * len(results)]
    parts += [f"| {key} | " + " | ".join(_value(r.get(key)) for r in results) + " |" for key in keys]
    return "\n".join(parts + [""])


def results_page(path: str | Path) -> str:
    """The Markdown page of one ``metrics.json`` (or of a speed benchmark's JSON)."""
    document = json.loads(Path(path).read_text())
    if document.get("suite") == "speed":
        return speed_page(document, Path(path).name)
    if document.get("suite") == "comparison":
        return comparison_page(document, Path(path).name)
    worst = document.get("worst") or {}
    parts = [f"# `{document.get('suite')}` results", "",
             "Generated from `docs/results/" + Path(path).name + "` when these pages are built.", ""]
    parts += run_lines(document.get("run"))
    note = " (mean / worst seed)" if worst else ""
    for group, methods in document.get("summary", {}).items():
        parts += [f"## {group}{note}", ""] + group_table(methods, worst.get(group)) + [""]
    parts += targets_lines(document.get("targets") or [])
    return "\n".join(parts)


if __name__ == "__main__":
    print(results_page(sys.argv[1]))
