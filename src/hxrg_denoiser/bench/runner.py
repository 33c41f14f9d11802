"""Run methods on benchmark cases and measure them against the truth.

A :class:`Method` turns a ramp into a flux image (electrons over the ramp).
Classical methods wrap :func:`~hxrg_denoiser.fitting.fit_ramp`; the oracle
fits the ramp with its correlated noise removed; trained models plug in
with the same signature.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hxrg_denoiser.bench.extraction import spectral_metrics, spectrum_err_calibration
from hxrg_denoiser.bench.metrics import linearity, lit_minus_dark_bias, noise_slope, pixel_errors
from hxrg_denoiser.bench.photometry import channel_mean_errors, photometry_errors
from hxrg_denoiser.bench.suite import CaseData
from hxrg_denoiser.classical.ipc import IpcKernel
from hxrg_denoiser.fitting import FINISHING_OPTIONS, FitOptions, RampRows, fit_ramp, fit_ramp_rows, flux_image
from hxrg_denoiser.fitting.options import CLASSICAL_FITS, NEEDS_CALIBRATION
from hxrg_denoiser.fitting.pipeline import before_cleaning, uncorrected_image
from hxrg_denoiser.fitting.reference_choice import checked_fit
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.product import FluxImage
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
    "spectrum_rms_box7",
    "spectrum_rms_bgsub",
    "bgsub_over_oracle",
    "lit_minus_dark_bias",
    "err_calibration",
    "spectrum_err_calibration",
    "phot_raw_rms",
    "phot_raw_bias",
    "phot_local_rms",
    "channel_spread",
)


@dataclass(frozen=True)
class Method:
    """A named way of building a flux image from a ramp.

    Attributes
    ----------
    name : str
    run : callable
        ``run(ramp, geometry, *, fit, [calibration]) -> FluxImage`` (or an ndarray of shape ``(n_rows, n_cols)``
        without an error), electrons over the ramp; ``fit`` is the fitting function to use (one that
        remembers results within a case).
    needs_oracle : bool
        Runs on the case's oracle ramp (correlated noise removed) instead of the ramp.
    min_reads : int
        Fewest reads the method accepts; noise-versus-reads points below are skipped.
    fixed_reads : int or None
        A method that only accepts this many reads gets no noise-versus-reads curve.
    needs_calibration : bool
        Runs only on cases that hold a detector calibration, which it receives as ``calibration=``.
    """

    name: str
    run: Callable[..., FluxImage | np.ndarray]
    needs_oracle: bool = False
    min_reads: int = 2
    fixed_reads: int | None = None
    needs_calibration: bool = False


class FitMemo:
    """:func:`~hxrg_denoiser.fitting.fit_ramp` that remembers its results for each ramp and options.

    Within one case several methods start from the same fit (the cleaning and
    the models from reference-corrected UTR, the reference check from plain
    UTR, a model given ``sirs`` from the calibrated fit): the per-pixel fit
    (:func:`~hxrg_denoiser.fitting.fit_ramp_rows`) is computed once for all the
    options that differ only in :data:`~hxrg_denoiser.fitting.FINISHING_OPTIONS`,
    and each flux image once.
    """

    def __init__(self) -> None:
        self.rows: dict = {}
        self.results: dict = {}

    @staticmethod
    def _key(ramp: Ramp, options: FitOptions, ignored: tuple[str, ...]) -> tuple:
        values = (getattr(options, f.name) for f in dataclasses.fields(options) if f.name not in ignored)
        settings = tuple(id(value) if isinstance(value, np.ndarray) else value for value in values)  # a map by identity
        return id(ramp), settings, id(options.calibration)

    def __call__(self, ramp: Ramp, geometry: ReadoutGeometry, options: FitOptions, **kwargs):  # no progress bars
        # with its errors checked, one fit serves as a method and as a model's input (which undoes the check)
        geometry = geometry.for_data((ramp.n_rows, ramp.n_cols), ramp.path)
        options = dataclasses.replace(options.resolved(geometry), check_errors=True)
        if options.reference_check:  # as fit_ramp checks: the plain image from the corrected fit's own rows
            return checked_fit(lambda chosen: self(ramp, geometry, chosen),
                               dataclasses.replace(options, reference_check=False), geometry, True,
                               compare=before_cleaning if options.clean else None,
                               uncorrected=lambda chosen: uncorrected_image(self._rows(ramp, geometry, chosen), ramp,
                                                                           chosen))
        key = self._key(ramp, options, ("calibration", "strip_rows"))
        entry = self.results.get(key)
        if entry is None or entry[0] is not ramp:  # the ramp held in the entry keeps its id from being reused
            entry = (ramp, flux_image(self._rows(ramp, geometry, options), ramp, geometry, options))
            self.results[key] = entry
        return entry[1]

    def _rows(self, ramp: Ramp, geometry: ReadoutGeometry, options: FitOptions) -> RampRows:
        """The per-pixel fit of ``options``, once per ramp and options that change it; a corrected fit with its
        plain slopes (what the reference check compares it with)."""
        rows_key = self._key(ramp, options, ("calibration", *FINISHING_OPTIONS))
        fitted = self.rows.get(rows_key)
        if fitted is None or fitted[0] is not ramp:
            fitted = (ramp, fit_ramp_rows(ramp, geometry, options, uncorrected=options.corrects_reference))
            self.rows[rows_key] = fitted
        return fitted[1]


@dataclass(frozen=True)
class _Fit:
    """A classical method: the fit with ``options`` (and the case's calibration where given); picklable, so that
    the benchmark's worker processes can run it."""

    options: FitOptions

    def __call__(self, ramp: Ramp, geometry: ReadoutGeometry, calibration=None, fit=fit_ramp,
                 dark: str | None = None, ipc: IpcKernel | None = None) -> FluxImage:
        chosen = self.options if calibration is None else dataclasses.replace(self.options, calibration=calibration)
        if dark is not None:
            chosen = dataclasses.replace(chosen, dark=dark)
        if ipc is not None:
            chosen = dataclasses.replace(chosen, ipc=ipc)
        return fit(ramp, geometry, chosen)


# The classical methods a model must not be worse than (bench-v2 targets); sirs only where calibrated, and
# then against the model given the same calibration.
BEST_CLASSICAL = ("utr_ref_seed", "utr_ref_smoothed", "utr_ref_sirs")
BEST_UNCALIBRATED = ("utr_ref_seed", "utr_ref_smoothed")


def classical_methods(*, oracle: bool = True, cds: bool = True,
                      extra: dict[str, FitOptions] | None = None) -> list[Method]:
    """CDS, UTR, UTR with each reference correction (``sirs`` where a case is calibrated), cleaned UTR, the
    fits of ``extra`` (a suite's own), the oracle."""
    methods = [Method(name, _Fit(options), needs_calibration=name in NEEDS_CALIBRATION)
               for name, options in {**CLASSICAL_FITS, **(extra or {})}.items()]
    if not cds:
        methods = methods[1:]
    if oracle:
        methods.append(Method("oracle", _Fit(CLASSICAL_FITS["utr"]), needs_oracle=True))
    return methods


CALIBRATED_SUFFIX = "+sirs"


def model_method(model: str | tuple, *, name: str | None = None, calibrated: bool = False) -> Method:
    """A :class:`Method` that denoises with a model: a path (file, run folder or shipped name) or ``(model, spec)``.

    ``name`` labels it in reports (default: the model's own name). ``calibrated``: a flux-image model
    given the case's detector calibration (its input is then ``sirs``-corrected), named ``NAME+sirs``.
    """
    from hxrg_denoiser.models.registry import load_model

    network, spec = load_model(model) if isinstance(model, str) else model
    run = _ModelRun(network, spec)
    label = (name or spec.name) + (CALIBRATED_SUFFIX if calibrated else "")
    return Method(label, run, min_reads=spec.n_reads, needs_calibration=calibrated)


@dataclass(frozen=True, eq=False)
class _ModelRun:
    """A model's method: :func:`~hxrg_denoiser.denoise.api.denoise_ramp` with ``network`` and ``spec``; picklable."""

    network: Any
    spec: Any

    def __call__(self, ramp: Ramp, geometry: ReadoutGeometry, calibration=None, fit=fit_ramp,
                 dark: str | None = None, ipc: IpcKernel | None = None) -> FluxImage:
        from hxrg_denoiser.denoise.api import denoise_ramp

        # the benchmark is how a model is measured on a layout: it runs on any layout its architecture takes;
        # a dark is subtracted, and the IPC kernel taken into the errors, where the model takes a fit (a ribbon
        # model takes the reads as they are)
        known: dict[str, Any] = {}
        if self.spec.input_layout.startswith("flux-image"):
            known = {name: value for name, value in (("dark", dark), ("ipc", ipc)) if value is not None}
        return denoise_ramp(ramp, self.network, self.spec, geometry, calibration=calibration, fit=fit,
                            any_layout=True, **known)


@dataclass
class CaseResult:
    """Metrics of every method on one case, plus what the plots need."""

    name: str
    family: str
    metrics: dict[str, dict[str, float | None]]
    images: dict[str, np.ndarray] = field(default_factory=dict)
    reads_curve: dict[str, dict[int, float]] = field(default_factory=dict)
    group: str | None = None
    target: float | None = None


def _source(method: Method, case: CaseData) -> Ramp | None:
    return case.oracle if method.needs_oracle else case.ramp


def _estimate(method: Method, ramp: Ramp, case: CaseData, memo: FitMemo) -> FluxImage | np.ndarray:
    """The flux image of ``method`` on ``ramp`` (the case's or a part of it), or its SCI alone if that is all the
    method gives."""
    calibrated = {"calibration": case.calibration} if method.needs_calibration else {}
    known: dict[str, Any] = {"dark": case.dark} if case.dark is not None and not method.needs_oracle else {}
    if case.ipc is not None:  # the oracle's ramp has the same IPC
        known["ipc"] = case.ipc
    return method.run(ramp, case.geometry, fit=memo, **calibrated, **known)


def err_calibration(estimate: np.ndarray, err: np.ndarray, truth: np.ndarray, science: np.ndarray) -> float | None:
    """Standard deviation of ``(estimate - truth) / err`` over usable science pixels (1 when ERR is right)."""
    usable = science & np.isfinite(estimate) & np.isfinite(err) & (err > 0)
    if not usable.any():
        return None
    return float(np.std((estimate[usable] - truth[usable]) / err[usable]))


def _reads_curve(method: Method, case: CaseData, reads_list: Iterable[int], science: np.ndarray,
                 memo: FitMemo | None = None) -> dict[int, float]:
    memo = FitMemo() if memo is None else memo
    ramp = _source(method, case)
    curve: dict[int, float] = {}
    if ramp is None:
        return curve
    for n in reads_list:
        if n < method.min_reads or n > ramp.n_reads:
            continue
        result = _estimate(method, FirstReads(ramp, n), case, memo)
        estimate = result.sci if isinstance(result, FluxImage) else result
        truth = np.multiply(case.scene.image, np.float32(n / ramp.n_reads))
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
    memo = FitMemo()
    for method in methods:
        ramp = _source(method, case)
        if ramp is None or (method.fixed_reads is not None and method.fixed_reads != ramp.n_reads):
            continue
        if method.needs_calibration and case.calibration is None:
            continue
        result = _estimate(method, ramp, case, memo)
        image: FluxImage | None = None
        err: np.ndarray | None = None
        if isinstance(result, FluxImage):
            image, estimate, err = result, result.sci, result.err
        else:
            estimate = result
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
        if err is not None:
            values["err_calibration"] = err_calibration(estimate, err, truth, science)
            if case.scene.orders:
                values["spectrum_err_calibration"] = spectrum_err_calibration(
                    estimate, err, truth, case.scene.orders, g, var_rnoise=image.var_rnoise if image else None,
                    rho=image.errors.aperture_correlation if image and image.errors else None)
        if case.scene.sources is not None:
            photometry = photometry_errors(estimate, truth, case.scene.sources, g, usable=np.isfinite(estimate))
            if photometry is not None:
                values.update(phot_raw_rms=photometry.raw_rms, phot_raw_bias=photometry.raw_bias,
                              phot_local_rms=photometry.local_rms)
        if case.scene.sky is not None:
            values["channel_spread"] = channel_mean_errors(estimate, truth, g, usable=np.isfinite(estimate)).spread
        values["lit_minus_dark_bias"] = lit_minus_dark_bias(estimate, truth, science,
                                                            background=case.scene.kind == "sky")
        if case.family == "echelle" and method.fixed_reads is None and reads_list:
            curves[method.name] = _reads_curve(method, case, reads_list, science, memo)
            points = curves[method.name]
            values["n_slope"] = noise_slope(np.array(list(points)), np.array(list(points.values())))
        metrics[method.name] = values
        if keep_images:
            images[method.name] = estimate
        log.info("%s %s: robust sigma %.3f", case.name, method.name, errors.robust_sigma)
    utr_spectrum = metrics.get("utr", {}).get("spectrum_rms")
    oracle_bgsub = metrics.get("oracle", {}).get("spectrum_rms_bgsub")
    for values in metrics.values():
        spectrum, bgsub = values.get("spectrum_rms"), values.get("spectrum_rms_bgsub")
        if utr_spectrum is not None and spectrum:
            values["utr_over_method_spectrum"] = utr_spectrum / spectrum
        if oracle_bgsub and bgsub is not None:
            values["bgsub_over_oracle"] = bgsub / oracle_bgsub
    return CaseResult(case.name, case.family, _clean(metrics), images, curves, case.group, case.target)


def _clean(metrics: dict[str, dict]) -> dict[str, dict[str, float | None]]:
    """Plain floats, and None instead of NaN, for JSON."""
    return {
        method: {k: (None if v is None or not np.isfinite(v) else float(v)) for k, v in values.items()}
        for method, values in metrics.items()
    }
