"""One large exposure fitted in pieces of rows on a Dask cluster, joined into the serial result bit for bit."""

from __future__ import annotations

import dataclasses

from hxrg_denoiser.fitting.options import FitOptions
from hxrg_denoiser.fitting.pipeline import (
    RampRows,
    before_cleaning,
    fit_ramp_rows,
    flux_image,
    join_rows,
    ramp_timing,
    uncorrected_image,
)
from hxrg_denoiser.fitting.reads import check_reads
from hxrg_denoiser.fitting.reference_choice import CorrectionRows, checked_fit
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.product import FluxImage
from hxrg_denoiser.io.ramps import open_ramp
from hxrg_denoiser.strips import row_ranges

__all__ = ["fit_rows_of_file", "fit_file_split"]


def fit_rows_of_file(path: str, geometry: ReadoutGeometry, options: FitOptions, start: int, stop: int,
                     open_args: dict, uncorrected: bool = False) -> RampRows:
    """Task: :func:`~hxrg_denoiser.fitting.pipeline.fit_ramp_rows` of rows ``start:stop`` (strip-aligned) of
    the ramp at ``path``."""
    with open_ramp(path, **open_args) as ramp:
        return fit_ramp_rows(ramp, geometry, options, rows=(start, stop), uncorrected=uncorrected)


def fit_file_split(
    path: str, geometry: ReadoutGeometry, options: FitOptions, client, parts: int, open_args: dict | None = None
) -> FluxImage:
    """:func:`~hxrg_denoiser.fitting.pipeline.fit_ramp` of one large file with its rows split into ``parts``
    tasks on a Dask ``client``."""
    open_args = open_args or {}
    options = options.resolved(geometry)
    if options.reference_check:  # each correction's rows fitted once, the corrected ones with the plain slopes
        rows_of = CorrectionRows(lambda chosen, plain_too: _split_rows(path, geometry, chosen, client, parts,
                                                                       open_args, plain_too))

        def fit(chosen: FitOptions) -> FluxImage:
            with open_ramp(path, **open_args) as ramp:  # --clean: the rows make the image compared and the cleaned one
                return flux_image(rows_of(chosen) if options.clean else rows_of.pop(chosen), ramp, geometry, chosen)

        def uncorrected(chosen: FitOptions):
            with open_ramp(path, **open_args) as ramp:
                return uncorrected_image(rows_of(chosen), ramp, chosen)

        return checked_fit(fit, dataclasses.replace(options, reference_check=False), geometry, True,
                           compare=before_cleaning if options.clean else None, uncorrected=uncorrected)
    fitted_rows = _split_rows(path, geometry, options, client, parts, open_args)
    with open_ramp(path, **open_args) as ramp:
        return flux_image(fitted_rows, ramp, geometry, options)


def _split_rows(path: str, geometry: ReadoutGeometry, options: FitOptions, client, parts: int, open_args: dict,
                uncorrected: bool = False) -> RampRows:
    """The rows of the ramp at ``path`` fitted in ``parts`` tasks and joined."""
    with open_ramp(path, **open_args) as ramp:
        timing = ramp_timing(ramp, geometry, options)  # a header with inconsistent timing is refused before any work
        check_reads(ramp, geometry, options, timing.group_time)  # and a dark or read range that does not fit
    ranges = row_ranges(geometry.n_rows, parts, options.strip_rows)
    futures = [client.submit(fit_rows_of_file, path, geometry, options, a, b, open_args, uncorrected, pure=False)
               for a, b in ranges]
    return join_rows(client.gather(futures))
