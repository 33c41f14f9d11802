"""The reference correction an exposure takes: the one asked for, unless its own dark pixels say it adds noise.

:func:`checked_fit` compares the fit with the correction and the same fit without it, and keeps the plain fit
where :func:`~hxrg_denoiser.classical.reference_check.choose_reference_correction` finds clearly less structure
in its dark pixels, or clearly steadier dark levels from read to read (reference pixels that see a
pattern the interior does not; a global offset of every read, which the image cannot show). The plain image
is the corrected fit's own (its slopes plus the fit of the offsets the correction subtracted, over the same
reads and jumps: :func:`~hxrg_denoiser.fitting.pipeline.uncorrected_image`), so the ramp is fitted a second
time only where the plain fit is taken. ``hxrg denoise`` checks the image its model takes, ``hxrg fit`` its
classical fit (unless ``--no-reference-check``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

import numpy as np

from hxrg_denoiser.classical.reference_check import choose_reference_correction
from hxrg_denoiser.fitting.options import FitOptions
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.product import FluxImage, ReferenceChoice

__all__ = ["checked_fit", "reference_note", "CorrectionRows"]

log = logging.getLogger(__name__)
Rows = TypeVar("Rows")  # a per-pixel fit (fitting.pipeline.RampRows)


def reference_note(refcorr: str, measures: dict[str, float]) -> str:
    """The check's measures as the header records them (REFCHECK)."""
    note = f"{refcorr} {measures['corrected']:.3g}, none {measures['plain']:.3g} e-2"
    if "corrected_all" in measures:
        note += f"; all {measures['corrected_all']:.3g}, {measures['plain_all']:.3g}"
    if "corrected_reads" in measures:
        note += f"; reads {measures['corrected_reads']:.3g}, {measures['plain_reads']:.3g} e-"
    return note


def checked_fit(fit: Callable[[FitOptions], FluxImage], options: FitOptions, geometry: ReadoutGeometry,
                check: bool, *, compare: Callable[[FitOptions], FitOptions] | None = None,
                uncorrected: Callable[[FitOptions], tuple[np.ndarray, float | None] | None] | None = None
                ) -> FluxImage:
    """The fit of ``options``, or the same without reference correction where the check prefers it.

    Parameters
    ----------
    fit : callable
        Fits the ramp with the options it is given.
    options : FitOptions
    geometry : ReadoutGeometry
    check : bool
        False: the fit of ``options`` as it is.
    compare : callable, optional
        The options of the images compared (default: ``options`` themselves); ``hxrg fit --clean`` compares
        the images before cleaning, which removes row structure from both.
    uncorrected : callable, optional
        ``uncorrected(chosen)``: the image without the correction that the corrected fit of ``chosen``
        holds (the same reads, jumps and weights: its slopes plus those of the offsets the correction
        subtracted), with its dark levels' read-to-read scatter; or None. The plain image is then fitted
        only where the check takes it (:func:`~hxrg_denoiser.fitting.pipeline.uncorrected_image`).

    Returns
    -------
    FluxImage
        With the choice and the measures in its provenance (``reference``).
    """
    if not check or not options.corrects_reference or geometry.ref_border == 0:
        return fit(options)
    plain_options = dataclasses.replace(options, refcorr="none", calibration=None)
    compared_options = options if compare is None else compare(options)
    held = uncorrected(compared_options) if uncorrected is not None else None  # before the fit's image is made
    corrected_image = fit(compared_options)
    plain_image = None
    if held is None:
        plain_image = fit(plain_options if compare is None else compare(plain_options))
        held = plain_image.sci, plain_image.provenance.fit.read_offsets if plain_image.provenance.fit else None
    record = corrected_image.provenance.fit
    keep, measures = choose_reference_correction(corrected_image.sci, held[0], geometry,
                                                 (record.read_offsets if record else None, held[1]))
    note = reference_note(options.refcorr, measures)
    if not keep:
        log.warning("the %s reference correction adds structure to the dark pixels (%s); the image fitted without "
                    "it is taken", options.refcorr, note)
    if keep:
        chosen = corrected_image if compare is None else fit(options)
    else:
        chosen = plain_image if plain_image is not None and compare is None else fit(plain_options)
    return chosen._replace(reference=ReferenceChoice(options.refcorr if keep else "none", note))


class CorrectionRows(Generic[Rows]):
    """Each reference correction's per-pixel fit made once for the check (``fit_rows(options, uncorrected)``: a
    corrected fit with its plain slopes, :func:`~hxrg_denoiser.fitting.pipeline.fit_ramp_rows`), kept until
    taken (:meth:`pop`)."""

    def __init__(self, fit_rows: Callable[[FitOptions, bool], Rows]) -> None:
        self._fit_rows = fit_rows
        self._rows: dict[tuple[str, str], Rows] = {}

    @staticmethod
    def _key(options: FitOptions) -> tuple[str, str]:
        return options.refcorr, str(options.calibration)

    def __call__(self, options: FitOptions) -> Rows:
        key = self._key(options)
        if key not in self._rows:
            self._rows[key] = self._fit_rows(options, options.corrects_reference)
        return self._rows[key]

    def pop(self, options: FitOptions) -> Rows:
        """The rows, no longer kept (so that their arrays go as the image is made from them)."""
        self(options)
        return self._rows.pop(self._key(options))
