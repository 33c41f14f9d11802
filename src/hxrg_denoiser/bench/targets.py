"""Worst seed beside the mean, and the robustness targets a model must meet on every family and seed.

Targets (bench-v2, bench-v3): a model is no worse than the best classical method
(reference-corrected UTR with ``seed`` or ``smoothed``; given the family's
calibration, ``NAME+sirs``, also ``sirs``; in bench-v3 also plain UTR and the ``seed`` fit that leaves out a
start transient's reads) by more than 2 % on pixel RMS, on raw (7-row box) and
background-subtracted spectrum RMS and on raw and annulus-subtracted aperture photometry, on every case; its
lit-minus-dark bias stays within +-0.2 e-; its background-subtracted spectrum error is within
the family's target times the oracle's.
"""

from __future__ import annotations

import numpy as np

from hxrg_denoiser.bench.runner import BEST_CLASSICAL, BEST_UNCALIBRATED, CALIBRATED_SUFFIX, METRIC_NAMES, CaseResult

__all__ = ["RATIO_METRICS", "WORST_RULES", "worst_rows", "target_checks", "targets_table", "TOLERANCE", "BIAS_LIMIT"]

TOLERANCE = 1.02  # no worse than the best classical method by more than 2 %
BIAS_LIMIT = 0.2  # e-, lit-minus-dark bias

# How the worst of several seeds is taken: the largest value, the largest magnitude, the smallest value,
# or the farthest from 1.
WORST_RULES = {
    "pixel_rms": "max", "pixel_robust_sigma": "max", "spectrum_rms": "max", "spectrum_rms_box": "max",
    "spectrum_rms_box7": "max", "spectrum_rms_bgsub": "max", "bgsub_over_oracle": "max", "flux_conservation": "max",
    "pixel_bias": "absmax", "lit_minus_dark_bias": "absmax", "line_depth_bias": "absmax",
    "linearity_intercept": "absmax", "utr_over_method_spectrum": "min", "linearity_slope": "dist1",
    "phot_raw_rms": "max", "phot_local_rms": "max", "phot_raw_bias": "absmax", "channel_spread": "max",
}
# Metrics compared with the best classical method: (metric, key in a check's row, column title).
RATIO_METRICS = (
    ("pixel_rms", "pixel", "pixel RMS"),
    ("spectrum_rms_box7", "box7", "box spectrum"),
    ("spectrum_rms_bgsub", "bgsub", "bg-subtracted spectrum"),
    ("phot_raw_rms", "phot_raw", "raw photometry"),
    ("phot_local_rms", "phot_local", "annulus photometry"),
)


def _worst(values: list[float], rule: str) -> float:
    array = np.asarray(values, dtype=np.float64)
    if rule == "max":
        return float(array.max())
    if rule == "min":
        return float(array.min())
    if rule == "dist1":
        return float(array[np.argmax(np.abs(array - 1.0))])
    return float(array[np.argmax(np.abs(array))])


def _groups(results: list[CaseResult], group_of) -> dict[str, list[CaseResult]]:
    groups: dict[str, list[CaseResult]] = {}
    for r in results:
        key = group_of(r)
        if key is not None:
            groups.setdefault(key, []).append(r)
    return groups


def values_by_group(results: list[CaseResult], group_of) -> dict[str, dict[str, dict[str, list[float]]]]:
    """``{group: {method: {metric: [the cases' values that exist]}}}``, methods run on every case of the group."""
    out: dict[str, dict[str, dict[str, list[float]]]] = {}
    for key, members in _groups(results, group_of).items():
        methods = [m for m in members[0].metrics if all(m in r.metrics for r in members)]
        out[key] = {method: {metric: [v for r in members if (v := r.metrics[method][metric]) is not None]
                             for metric in METRIC_NAMES} for method in methods}
    return out


def worst_rows(results: list[CaseResult], group_of) -> dict[str, dict[str, dict[str, float | None]]]:
    """The worst seed of every metric (by :data:`WORST_RULES`) over the cases of each group, per method."""
    return {group: {method: {metric: _worst(values, WORST_RULES[metric]) if values and metric in WORST_RULES else None
                             for metric, values in metrics.items()}
                    for method, metrics in methods.items()}
            for group, methods in values_by_group(results, group_of).items()}


def _ratio_to_best(result: CaseResult, model: str, metric: str, extra_rivals: tuple[str, ...] = ()) -> float | None:
    value = result.metrics.get(model, {}).get(metric)
    rivals = (BEST_CLASSICAL if model.endswith(CALIBRATED_SUFFIX) else BEST_UNCALIBRATED) + extra_rivals
    best = [v for m in rivals if (v := result.metrics.get(m, {}).get(metric)) is not None]
    if value is None or not best or min(best) <= 0:
        return None
    return value / min(best)


def target_checks(results: list[CaseResult], models: list[str], group_of,
                  extra_rivals: tuple[str, ...] = ()) -> list[dict]:
    """For every model and family: the worst seed of each target quantity and whether it is met.

    ``extra_rivals``: classical methods the model is compared with beside bench-v2's (where a case has them).
    """
    checks = []
    for model in models:
        for family, members in _groups(results, group_of).items():
            members = [r for r in members if model in r.metrics]
            if not members:
                continue
            row: dict = {"model": model, "family": family, "seeds": len(members), "target": members[0].target}
            for metric, key, _ in RATIO_METRICS:
                ratios = [x for x in (_ratio_to_best(r, model, metric, extra_rivals) for r in members)
                          if x is not None]
                row[f"{key}_vs_best"] = max(ratios) if ratios else None
            biases = [v for r in members if (v := r.metrics[model]["lit_minus_dark_bias"]) is not None]
            row["lit_minus_dark"] = _worst(biases, "absmax") if biases else None
            over = [v for r in members if (v := r.metrics[model]["bgsub_over_oracle"]) is not None]
            row["bgsub_over_oracle"] = max(over) if over else None
            row["met"] = _met(row)
            checks.append(row)
    return checks


def _met(row: dict) -> dict[str, bool | None]:
    ratio = {k: (row[f"{k}_vs_best"] <= TOLERANCE if row[f"{k}_vs_best"] is not None else None)
             for _, k, _ in RATIO_METRICS}
    ratio["lit_minus_dark"] = abs(row["lit_minus_dark"]) <= BIAS_LIMIT if row["lit_minus_dark"] is not None else None
    target, over = row["target"], row["bgsub_over_oracle"]
    ratio["oracle"] = over <= target if target is not None and over is not None else None
    return ratio


def _cell(value: float | None, met: bool | None, fmt: str) -> str:
    if value is None:
        return "-"
    text = fmt.format(value)
    return text if met is None or met else f"**{text}**"


def targets_table(checks: list[dict]) -> str:
    """Markdown: one row per model and family, worst seed; values that miss a target in bold."""
    lines = [
        "| model | family | " + " | ".join(f"{title} / best" for _, _, title in RATIO_METRICS)
        + " | lit-minus-dark (e-) | bg-subtracted / oracle (target) |",
        "|---|---|" + "---:|" * (len(RATIO_METRICS) + 2),
    ]
    for row in checks:
        met = row["met"]
        target = f" ({row['target']:.2f})" if row["target"] is not None else ""
        ratios = " | ".join(_cell(row[f"{key}_vs_best"], met[key], "{:.3f}") for _, key, _ in RATIO_METRICS)
        lines.append(
            f"| {row['model']} | {row['family']} | {ratios} | "
            f"{_cell(row['lit_minus_dark'], met['lit_minus_dark'], '{:+.3f}')} | "
            f"{_cell(row['bgsub_over_oracle'], met['oracle'], '{:.3f}')}{target} |"
        )
    return "\n".join(lines)
