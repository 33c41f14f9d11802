"""Write a benchmark's ``metrics.json``, ``report.md`` and figures."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from pathlib import Path

import numpy as np

from hxrg_denoiser._version import __version__
from hxrg_denoiser.bench.extraction import extract_orders
from hxrg_denoiser.bench.runner import METRIC_NAMES, CaseResult
from hxrg_denoiser.bench.suite import RIVALS, CaseData, suite_family
from hxrg_denoiser.bench.targets import target_checks, targets_table, values_by_group, worst_rows
from hxrg_denoiser.io.safety import atomic_output

__all__ = ["metrics_document", "run_record", "source_commit", "summary_rows", "write_report", "case_figures"]

_TABLE_METRICS = (
    ("pixel_robust_sigma", "pixel sigma (e-)", "{:.3f}"),
    ("pixel_rms", "pixel RMS (e-)", "{:.3f}"),
    ("pixel_bias", "bias (e-)", "{:+.3f}"),
    ("linearity_slope", "linearity slope", "{:.4f}"),
    ("n_slope", "N slope", "{:+.3f}"),
    ("spectrum_rms", "spectrum RMS (e-)", "{:.2f}"),
    ("utr_over_method_spectrum", "UTR / method (spectrum)", "{:.3f}"),
    ("line_depth_bias", "line depth bias", "{:+.4f}"),
    ("flux_conservation", "max order flux error", "{:.4f}"),
    ("spectrum_rms_bgsub", "bg-subtracted spectrum RMS (e-)", "{:.2f}"),
    ("lit_minus_dark_bias", "lit-minus-dark bias (e-)", "{:+.3f}"),
    ("err_calibration", "std(error / ERR)", "{:.3f}"),
    ("spectrum_err_calibration", "spectra: std(error / ERR)", "{:.3f}"),
    ("phot_raw_rms", "raw photometry RMS (e-)", "{:.1f}"),
    ("phot_local_rms", "annulus photometry RMS (e-)", "{:.1f}"),
    ("channel_spread", "channel-mean error spread (e-)", "{:.3f}"),
)


def metrics_document(results: list[CaseResult], *, suite: str) -> dict:
    """``{"cases": {CASE: {METHOD: {metric: value or None}}}}`` with provenance."""
    return {
        "suite": suite,
        "version": __version__,
        "metrics": list(METRIC_NAMES),
        "cases": {r.name: r.metrics for r in results},
        "reads_curves": {r.name: {m: {str(n): v for n, v in c.items()} for m, c in r.reads_curve.items()} for r in results},
    }


def source_commit() -> str | None:
    """The git commit of the package's source (a checkout), with ``+dirty`` if it has changes; None if not
    a checkout or git is missing. A benchmark takes it when it starts: the code it imported."""
    source = Path(__file__).resolve().parents[1]  # the package: any change in it makes the run "dirty"
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        changes = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "."], cwd=source,
                                 capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if changes else "") if commit else None


def _processor() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else what :mod:`platform` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_record(command: str, seconds: float, commit: str | None = None) -> dict:
    """When, with what code and on what machine a benchmark ran: date (UTC), package version and git
    commit (``commit``, taken when the run started; by default now), the command and its wall time, CPUs,
    processor and the main libraries' versions."""
    import numpy

    versions = {"python": platform.python_version(), "numpy": numpy.__version__}
    try:
        import torch

        versions["torch"] = torch.__version__
    except ImportError:  # pragma: no cover - a dependency
        pass
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "version": __version__,
        "commit": commit if commit is not None else source_commit(),
        "command": command,
        "seconds": round(seconds, 1),
        "machine": {"cpus": os.cpu_count(), "processor": _processor(), "system": platform.platform()},
        "software": versions,
    }


def summary_rows(results: list[CaseResult], group_of) -> dict[str, dict[str, dict[str, float | None]]]:
    """Mean of every metric over the cases of each group, per method."""
    return {group: {method: {metric: float(np.mean(values)) if values else None for metric, values in metrics.items()}
                    for method, metrics in methods.items()}
            for group, methods in values_by_group(results, group_of).items()}


def _table(rows: dict[str, dict[str, float | None]]) -> str:
    header = "| method | " + " | ".join(label for _, label, _ in _TABLE_METRICS) + " |"
    lines = [header, "|---|" + "---:|" * len(_TABLE_METRICS)]
    for method, values in rows.items():
        cells = [fmt.format(values[key]) if values.get(key) is not None else "-" for key, _, fmt in _TABLE_METRICS]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


_FAMILY_METRICS = (
    ("pixel_rms", "pixel RMS (e-)", "{:.3f}"),
    ("spectrum_rms_box7", "7-row box spectrum RMS (e-)", "{:.2f}"),
    ("spectrum_rms_bgsub", "bg-subtracted spectrum RMS (e-)", "{:.2f}"),
    ("bgsub_over_oracle", "bg-subtracted / oracle", "{:.3f}"),
    ("lit_minus_dark_bias", "lit-minus-dark bias (e-)", "{:+.3f}"),
    ("pixel_bias", "bias (e-)", "{:+.3f}"),
    ("phot_raw_rms", "raw photometry RMS (e-)", "{:.1f}"),
    ("phot_local_rms", "annulus photometry RMS (e-)", "{:.1f}"),
    ("channel_spread", "channel-mean error spread (e-)", "{:.3f}"),
)


def _family_table(mean: dict[str, dict], worst: dict[str, dict]) -> str:
    """Mean and worst seed of the robustness metrics, one row per method."""
    header = "| method | " + " | ".join(f"{label}: mean / worst" for _, label, _ in _FAMILY_METRICS) + " |"
    lines = [header, "|---|" + "---:|" * len(_FAMILY_METRICS)]
    for method, values in mean.items():
        cells = []
        for key, _, fmt in _FAMILY_METRICS:
            m, w = values.get(key), worst.get(method, {}).get(key)
            cells.append("-" if m is None else f"{fmt.format(m)} / {fmt.format(w)}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _echelle_group(result: CaseResult) -> str | None:
    if result.group is not None:
        return result.group
    if result.family != "echelle":
        return None
    return "nirspec" if "-nirspec-" in result.name else "h4rg-lab" if "-h4rg-lab-" in result.name else result.name


def write_report(
    results: list[CaseResult], outdir: str | os.PathLike, *, suite: str, figures: list[str], command: str, seconds: float,
    models: tuple[str, ...] = (),
    commit: str | None = None,
) -> dict[str, Path]:
    """Write ``metrics.json`` and ``report.md`` (figures already written) into ``outdir``; ``commit``: the
    source's when the run started (:func:`source_commit`; by default now).

    Cases that belong to families (bench-v2) are also summarised by their
    worst seed, and every model's targets are checked (:mod:`hxrg_denoiser.bench.targets`).
    """
    outdir = Path(outdir)
    document = metrics_document(results, suite=suite)
    document["run"] = run_record(command, seconds, commit)
    summary = summary_rows(results, _echelle_group)
    document["summary"] = summary
    families = any(r.group is not None for r in results)
    worst = worst_rows(results, _echelle_group) if families else {}
    rivals = RIVALS.get(suite_family(suite), ())
    checks = target_checks(results, list(models), _echelle_group, rivals) if families else []
    if families:
        document["worst"], document["targets"] = worst, checks
    with atomic_output(outdir / "metrics.json", overwrite=True) as tmp:
        tmp.write_text(json.dumps(document, indent=2))
    parts = [
        f"# Benchmark `{suite}`\n",
        f"Command: `{command}` (hxrg-denoiser {__version__}, {seconds:.0f} s).\n",
        "Errors are estimate - truth over science pixels, in electrons accumulated over the ramp. "
        "`pixel sigma` is the robust sigma (half the 15.87-84.13 percentile range); `N slope` the log-log slope "
        "of pixel sigma against the number of reads used (-0.5 for white noise); `spectrum RMS` the RMS error of "
        "optimally extracted spectra along the true traces; `UTR / method (spectrum)` the ratio the paper reports "
        "as 1.85; `line depth bias` the relative change of absorption-line depths (negative: shallower); "
        "`max order flux error` the largest relative error of an order's total flux; `std(error / ERR)` the spread "
        "of the errors in units of the method's own ERR (1 when ERR is right), for pixels and for the optimally "
        "extracted spectra (ERR propagated with the correlation of neighbouring rows). `oracle` is UTR on the same "
        "ramp with its correlated noise removed exactly.\n",
    ]
    if checks:
        against = f"{', '.join(rivals)} or calibrated sirs" if rivals else \
            "seed, smoothed or calibrated sirs reference correction"
        parts += ["## Targets, worst seed of each family\n",
                  f"Ratios to the best classical method of the same case ({against}), largest over seeds; "
                  "target <= 1.02. Photometry: circular apertures of radius 4 pixels on the true sources, raw and "
                  "less the median of an 8-14 pixel annulus. Lit-minus-dark bias: target within "
                  "+-0.2 e-. Background-subtracted spectrum / oracle: the family's target in brackets. Values that "
                  "miss a target are in bold.\n", targets_table(checks), ""]
    if families:
        parts.append("## Families: mean and worst seed\n")
        parts.append("`bg-subtracted spectrum`: a 7-row box minus the mean of side bands 5-8 rows off the trace, "
                     "smoothed along the order over 31 columns, as users extract; `lit-minus-dark bias`: mean error "
                     "over pixels with more than 1 e- of light minus that over pixels far from any light.\n")
        for group, rows in summary.items():
            parts += [f"### {group}\n", _family_table(rows, worst[group]), ""]
    elif summary:
        parts.append("## Summary: echelle cases, mean over seeds\n")
        for group, rows in summary.items():
            parts += [f"### {group}\n", _table(rows), ""]
    parts.append("## Every case\n")
    for r in results:
        parts += [f"### {r.name}\n", _table(r.metrics), ""]
    if figures:
        parts.append("## Figures\n")
        parts += [f"![{Path(f).stem}]({f})\n" for f in figures]
    with atomic_output(outdir / "report.md", overwrite=True) as tmp:
        tmp.write_text("\n".join(parts))
    return {"metrics": outdir / "metrics.json", "report": outdir / "report.md"}


def case_figures(result: CaseResult, case: CaseData, outdir: Path) -> list[str]:
    """Error images and histogram, error versus reads, and one extracted order of a case; returns file names."""
    from hxrg_denoiser.plots import new_figure, plot_error_images, save_figure

    science = ~case.geometry.reference_mask
    names = []
    if result.images:
        fig = plot_error_images(result.images, case.scene.image, science, title=case.name)
        names.append(_save(save_figure(fig, outdir / f"{case.name}_errors.png", overwrite=True)))
    if result.reads_curve:
        fig, ax = new_figure(figsize=(6.5, 4.5), constrained_layout=True)
        for method, curve in result.reads_curve.items():
            n = np.array(list(curve))
            ax.loglog(n, list(curve.values()), "o-", label=method)
        anchor = result.reads_curve.get("oracle") or next(iter(result.reads_curve.values()))
        n0 = min(anchor)
        n = np.array(sorted({k for c in result.reads_curve.values() for k in c}))
        ax.loglog(n, anchor[n0] * np.sqrt(n0 / n), "k--", lw=0.8, label="1/sqrt(N)")
        ax.set_xlabel("number of reads used N")
        ax.set_ylabel("pixel error robust sigma (e- over N reads)")
        ax.set_title(f"{case.name}: error versus reads")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
        names.append(_save(save_figure(fig, outdir / f"{case.name}_error_vs_reads.png", overwrite=True)))
    if case.scene.orders and result.images:
        names.append(_save(_spectrum_figure(result, case, outdir)))
    return names


def _spectrum_figure(result: CaseResult, case: CaseData, outdir: Path) -> Path:
    from hxrg_denoiser.plots import new_figure, save_figure

    g = case.geometry
    truth = extract_orders(case.scene.image, case.scene.orders, g)
    valid = np.isfinite(truth).sum(axis=1)
    mean = np.nansum(truth, axis=1) / np.maximum(valid, 1)  # orders with no valid column get 0, not a warning
    order = int(np.argmax(valid * mean))
    centre, half = g.n_cols // 2, min(150, g.n_cols // 2)
    cols = np.arange(centre - half, centre + half)
    fig, (top, bottom) = new_figure(2, 1, figsize=(10, 6), sharex=True, constrained_layout=True)
    top.plot(cols, truth[order, cols], "k", lw=1.5, label="truth")
    for method, image in result.images.items():
        if method == "cds":  # an order of magnitude noisier: it would hide the others
            continue
        spectrum = extract_orders(image, case.scene.orders[order : order + 1], g)[0]
        top.plot(cols, spectrum[cols], lw=0.8, label=method)
        bottom.plot(cols, spectrum[cols] - truth[order, cols], lw=0.8, label=method)
    top.set_ylabel("extracted flux (e- per column)")
    top.set_title(f"{case.name}: optimally extracted order {order}, central {cols.size} columns (CDS omitted)")
    top.legend(ncol=3, fontsize="small")
    bottom.axhline(0, color="k", lw=0.5)
    bottom.set_ylabel("extracted - true (e-)")
    bottom.set_xlabel("column (pixels)")
    return save_figure(fig, outdir / f"{case.name}_spectrum.png", overwrite=True)


def _save(path: Path) -> str:
    return path.name
