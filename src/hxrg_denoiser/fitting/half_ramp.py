"""An up-the-ramp fit's ERR checked on the two halves of its ramp where its dark pixels' scale is large or
missing.

See :mod:`hxrg_denoiser.classical.half_ramp_errors`: where the dark pixels' read-noise scale exceeds
:data:`~hxrg_denoiser.classical.half_ramp_errors.USUAL_SCALE`, the exposure is fitted again on each half of
its reads (the same options, without cleaning or error check: about one more pass over the ramp), and where
the dark pixels' scale is more than :data:`~hxrg_denoiser.classical.half_ramp_errors.DISAGREEMENT` times the
halves', the halves' replaces it in ``VAR_RNOISE`` and ``ERR`` with their column correlation (``RNSOURCE =
'ramp halves'``). Where too few pixels are dark to measure a scale, the halves are fitted where they can
measure one, and their scale replaces the prediction (1) where it is larger.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from hxrg_denoiser.classical.half_ramp_errors import (
    MIN_HALF_READS,
    half_ramp_statistics,
    halves_can_measure,
    prefer_halves,
    worth_checking,
)
from hxrg_denoiser.fitting.options import FitOptions
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.product import ErrorCalibration, FluxImage

__all__ = ["checked_on_halves", "applies", "needs_halves", "fit_halves", "rescaled_on_halves"]


def applies(options: FitOptions, n_reads: int) -> bool:
    """A classical up-the-ramp fit with an error check, of enough reads for two halves, not cleaned (a cleaned
    image is not what the halves' fits give)."""
    return options.check_errors and options.method == "utr" and not options.clean and n_reads >= 2 * MIN_HALF_READS


def checked_on_halves(image: FluxImage, fit: Callable[[FitOptions], FluxImage], options: FitOptions,
                      first: int, last: int, geometry: ReadoutGeometry) -> FluxImage:
    """``image`` with its read-noise scale from the halves of reads ``first`` to ``last`` where its dark pixels'
    is clearly larger, or where they measured none and the halves' is over 1 (see the module); ``image``
    itself otherwise.

    Parameters
    ----------
    image : FluxImage
        Its ``errors`` as :func:`~hxrg_denoiser.classical.error_model.calibrated_errors` measured them.
    fit : callable
        Fits the exposure with the options it is given.
    options : FitOptions
        Those ``image`` was fitted with (:func:`applies`).
    first, last : int
        The reads ``image`` used (from 0, ``last`` included).
    geometry : ReadoutGeometry
    """
    if not needs_halves(image, geometry):
        return image
    a, b = fit_halves(fit, options, first, last)
    if a.var_rnoise is None or b.var_rnoise is None or a.var_poisson is None or b.var_poisson is None:
        return image
    return rescaled_on_halves(image, (a.sci, b.sci), a.var_rnoise + b.var_rnoise, a.var_poisson + b.var_poisson,
                              (a.dq == 0) & (b.dq == 0), geometry)


def needs_halves(image: FluxImage, geometry: ReadoutGeometry) -> bool:
    """Whether ``image``'s read-noise scale is to be checked on its ramp's halves
    (:func:`~hxrg_denoiser.classical.half_ramp_errors.worth_checking`): its dark pixels' scale is large, or they
    measured none and the halves can."""
    errors = image.errors
    if errors is None or image.var_rnoise is None or image.var_poisson is None:
        return False
    if errors.measured:
        return worth_checking(errors.read_noise_scale)
    usable = ~geometry.reference_mask & (image.dq == 0)
    return worth_checking(errors.read_noise_scale, measured=False,
                          measurable=halves_can_measure(image.var_rnoise, image.var_poisson, usable))


def fit_halves(fit: Callable[[FitOptions], FluxImage], options: FitOptions, first: int,
               last: int) -> tuple[FluxImage, FluxImage]:
    """The exposure fitted with ``options`` on each half of reads ``first`` to ``last`` (from 0, ``last``
    included), without cleaning, error check or reference check."""
    middle = (first + last + 1) // 2
    plain = dataclasses.replace(options, check_errors=False, clean=False, keep_background=False,
                                reference_check=False)
    a, b = (fit(dataclasses.replace(plain, first_read=start, last_read=stop))
            for start, stop in ((first, middle - 1), (middle, last)))
    return a, b


def rescaled_on_halves(image: FluxImage, halves: tuple[np.ndarray, np.ndarray], var_rnoise: np.ndarray,
                       var_poisson: np.ndarray, usable: np.ndarray, geometry: ReadoutGeometry) -> FluxImage:
    """``image`` with its read-noise scale from the difference of the images of its ramp's two halves where its
    dark pixels' scale is more than :data:`~hxrg_denoiser.classical.half_ramp_errors.DISAGREEMENT` times larger;
    ``image`` itself otherwise.

    Parameters
    ----------
    image : FluxImage
        With ``errors``, ``var_rnoise`` and ``var_poisson``.
    halves : (ndarray, ndarray)
        The two halves' images, shape ``(n_rows, n_cols)``, in ``image``'s units (made as ``image`` was).
    var_rnoise, var_poisson : ndarray, shape (n_rows, n_cols)
        The read-noise and photon variances their difference is predicted to have (each half's, summed).
    usable : ndarray of bool, shape (n_rows, n_cols)
        Pixels the halves may be compared on (besides ``image``'s unflagged science pixels).
    geometry : ReadoutGeometry
    """
    errors = image.errors
    if errors is None or image.var_rnoise is None or image.var_poisson is None:
        return image
    usable = usable & ~geometry.reference_mask & (image.dq == 0)
    stats = half_ramp_statistics(halves[0], halves[1], var_rnoise, var_poisson, usable)
    if stats is None or not prefer_halves(errors.read_noise_scale, stats.scale, measured=errors.measured):
        return image
    var_rnoise = (image.var_rnoise * np.float32(stats.scale / errors.read_noise_scale)).astype(np.float32)
    err = np.sqrt(image.var_poisson + var_rnoise).astype(np.float32)
    calibration = ErrorCalibration(stats.scale, errors.read_noise_lit_scale, tuple(stats.rho), None,
                                   read_noise_source="ramp halves")
    return image._replace(err=err, var_rnoise=var_rnoise, errors=calibration)
