"""Run methods on benchmark cases and measure them against the truth.

A :class:`Method` turns a ramp into a flux image (electrons over the ramp).
Classical methods wrap :func:`~hxrg_denoiser.fitting.fit_ramp`; the oracle
fits the ramp with its correlated noise removed; trained models plug in
with the same signature.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from hxrg_denoiser.bench.extraction import spectral_metrics
from hxrg_denoiser.bench.metrics import linearity, noise_slope, pixel_errors
from hxrg_denoiser.bench.suite import CaseData
from hxrg_denoiser.fitting import FitOptions, fit_ramp
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.ramps import FirstReads, Ramp

__all__ = ["Method", "classical_methods", "model_method", "CaseResult", "evaluate_case", "READS_LIST", "METRIC_NAMES"]

log = logging.getLogger(__name__)

READS_LIST = (2, 3, 5, 10, 20, 50, 100)
METRIC_NAMES = (
    "pixel_rms",
    "pixel_robust_sigma",
    "pixel_bias",
    "linearity_slope",
    "linearity_intercept",
    "n_slope",
    "spectrum_rms",
    "spectrum_rms_box",
    "utr_over_method_spectrum",
    "line_depth_bias",
    "flux_conservation",
)


@dataclass(frozen=True)
class Method:
    """A named way of building a flux image from a ramp.

    Attributes
    ----------
    name : str
    run : callable
        ``run(ramp, geometry) -> ndarray`` of shape ``(n_rows, n_cols)``, electrons over the ramp.
    needs_oracle : bool
        Runs on the case's oracle ramp (correlated noise removed) instead of the ramp.
    min_reads : int
        Fewest reads the method accepts; noise-versus-reads points below are skipped.
    fixed_reads : int or None
        A method that only accepts this many reads gets no noise-versus-reads curve.
    """

    name: str
    run: Callable[[Ramp, ReadoutGeometry], np.ndarray]
    needs_oracle: bool = False
    min_reads: int = 2
    fixed_reads: int | None = None


def _fit(options: FitOptions) -> Callable[[Ramp, ReadoutGeometry], np.ndarray]:
    def run(ramp: Ramp, geometry: ReadoutGeometry) -> np.ndarray:
        return fit_ramp(ramp, geometry, options).sci

    return run


def classical_methods(*, oracle: bool = True) -> list[Method]:
    """CDS, UTR, UTR with each reference correction, cleaned UTR, and (for simulations) the oracle."""
    methods = [
        Method("cds", _fit(FitOptions(method="cds", refcorr="none"))),
        Method("utr", _fit(FitOptions(method="utr", refcorr="none"))),
        Method("utr_ref_seed", _fit(FitOptions(method="utr", refcorr="seed"))),
        Method("utr_ref_smoothed", _fit(FitOptions(method="utr", refcorr="smoothed"))),
        Method("utr_ref_seed_clean", _fit(FitOptions(method="utr", refcorr="seed", clean=True))),
    ]
    if oracle:
        methods.append(Method("oracle", _fit(FitOptions(method="utr", refcorr="none")), needs_oracle=True))
    return methods


def model_method(path: str, *, name: str | None = None) -> Method:
    """A :class:`Method` that denoises with the model at ``path`` (a file, run folder or shipped name).

    ``name`` labels it in reports (default: the model's own name).
    """
    from hxrg_denoiser.inference import denoise_ramp
    from hxrg_denoiser.models.registry import load_model

    model, spec = load_model(path)

    def run(ramp: Ramp, geometry: ReadoutGeometry) -> np.ndarray:
        return denoise_ramp(ramp, model, spec, geometry).sci

    return Method(name or spec.name, run, min_reads=spec.n_reads)


@dataclass
class CaseResult:
    """Metrics of every method on one case, plus what the plots need."""

    name: str
    family: str
    metrics: dict[str, dict[str, float | None]]
    images: dict[str, np.ndarray] = field(default_factory=dict)
    reads_curve: dict[str, dict[int, float]] = field(default_factory=dict)


def _source(method: Method, case: CaseData) -> Ramp | None:
    return case.oracle if method.needs_oracle else case.ramp


def _reads_curve(method: Method, case: CaseData, reads_list: Iterable[int], science: np.ndarray) -> dict[int, float]:
    ramp = _source(method, case)
    curve = {}
    for n in reads_list:
        if n < method.min_reads or n > ramp.n_reads:
            continue
        estimate = method.run(FirstReads(ramp, n), case.geometry)
        truth = case.scene.image * np.float32(n / ramp.n_reads)
        curve[n] = pixel_errors(estimate, truth, science).robust_sigma
    return curve


def evaluate_case(
    case: CaseData, methods: list[Method], *, reads_list: Iterable[int] = READS_LIST, keep_images: bool = True
) -> CaseResult:
    """Run every method on ``case`` and compute the metrics of :data:`METRIC_NAMES` (None where they do not apply)."""
    g = case.geometry
    science = ~g.reference_mask
    truth = case.scene.image
    metrics: dict[str, dict[str, float | None]] = {}
    images: dict[str, np.ndarray] = {}
    curves: dict[str, dict[int, float]] = {}
    for method in methods:
        ramp = _source(method, case)
        if ramp is None or (method.fixed_reads is not None and method.fixed_reads != ramp.n_reads):
            continue
        estimate = method.run(ramp, g)
        errors = pixel_errors(estimate, truth, science)
        slope, intercept = linearity(estimate, truth, science) if np.any(truth[science] > 0) else (None, None)
        values: dict[str, float | None] = dict.fromkeys(METRIC_NAMES)
        values.update(
            pixel_rms=errors.rms, pixel_robust_sigma=errors.robust_sigma, pixel_bias=errors.bias,
            linearity_slope=slope, linearity_intercept=intercept,
        )
        if case.scene.orders:
            spectral = spectral_metrics(estimate, truth, case.scene.orders, g)
            values.update(spectral._asdict())
        if case.family == "echelle" and method.fixed_reads is None:
            curves[method.name] = _reads_curve(method, case, reads_list, science)
            points = curves[method.name]
            values["n_slope"] = noise_slope(np.array(list(points)), np.array(list(points.values())))
        metrics[method.name] = values
        if keep_images:
            images[method.name] = estimate
        log.info("%s %s: robust sigma %.3f", case.name, method.name, errors.robust_sigma)
    utr_spectrum = metrics.get("utr", {}).get("spectrum_rms")
    for values in metrics.values():
        if utr_spectrum is not None and values.get("spectrum_rms"):
            values["utr_over_method_spectrum"] = utr_spectrum / values["spectrum_rms"]
    return CaseResult(case.name, case.family, _clean(metrics), images, curves)


def _clean(metrics: dict[str, dict]) -> dict[str, dict[str, float | None]]:
    """Plain floats, and None instead of NaN, for JSON."""
    return {
        method: {k: (None if v is None or not np.isfinite(v) else float(v)) for k, v in values.items()}
        for method, values in metrics.items()
    }
