"""Apply a trained model to a ramp: the functions of the Python API over the :class:`Denoiser` of each family.

:func:`denoise_ramp` wraps the model in the :class:`~hxrg_denoiser.denoise.Denoiser`
its class asks for (a flux-image network or a ribbon network) and runs it;
:func:`denoise_file_split` does the same with the work split across a Dask cluster.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch

from hxrg_denoiser.denoise.base import (
    DEFAULT_SETTINGS,
    DenoiseSettings,
    check_model_geometry,
    load_denoiser,
    make_denoiser,
    model_geometry,
    pick_device,
)
from hxrg_denoiser.fitting import fit_ramp
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.product import FluxImage
from hxrg_denoiser.io.ramps import Ramp
from hxrg_denoiser.models.registry import ModelSpec

__all__ = ["denoise_ramp", "denoise_file_split", "pick_device", "check_model_geometry", "model_geometry"]


def denoise_ramp(
    ramp: Ramp,
    model: torch.nn.Module,
    spec: ModelSpec,
    geometry: ReadoutGeometry,
    settings: DenoiseSettings = DEFAULT_SETTINGS,
    *,
    progress: bool = False,
    row_range: tuple[int, int] | None = None,
    fit: Callable[..., FluxImage] = fit_ramp,
    any_layout: bool = False,
    **changes,
) -> FluxImage:
    """Flux image of ``ramp`` predicted by ``model``.

    Parameters
    ----------
    ramp : Ramp
        At least ``spec.n_reads`` reads (ribbon networks use the first ones).
    model : torch.nn.Module
    spec : ModelSpec
    geometry : ReadoutGeometry
        Geometry of the data (a preset's geometry is taken for a strip of it); its channels, channel
        width, reference border and butterfly must be a layout the model serves (``hxrg models``).
    settings : DenoiseSettings
        How the denoiser runs (strips, device, precision, the input fit's calibration, saturation, gain,
        jumps...); ``changes`` are fields of it changed for this call (``strip_rows=32``).
    progress : bool
    row_range : (int, int), optional
        Ribbon networks: only the strips starting in these rows (strip-aligned); other rows stay NaN.
    fit : callable
        Flux-image networks: the fitting function ``fit(ramp, geometry, options, **kwargs)``.
    any_layout : bool
        Run a model whose architecture takes any channel layout on a layout it was never measured
        on (with a warning; recorded as ``MODELLAY = 'unmeasured'``). Default: refuse such data.

    Returns
    -------
    FluxImage
        Flux-image networks (``readout-set``, e.g. the shipped ``default``): the
        reference-corrected up-the-ramp fit with the predicted correlated noise
        removed, electrons over the ramp, with the fit's ERR and DQ. Ribbon
        networks (``payeur2022``): electrons over ``spec.label_reads`` frames,
        ERR of the up-the-ramp fit of the same reads with the correlated noise
        removed, scaled to what the dark pixels show
        (:func:`~hxrg_denoiser.classical.error_model.network_errors`), reference pixels NaN
        and flagged. Pixels where the network's
        output is not finite are flagged ``DO_NOT_USE`` and ``UNRELIABLE_SLOPE``.
    """
    settings = dataclasses.replace(settings, **changes) if changes else settings
    geometry = geometry.for_data((ramp.n_rows, ramp.n_cols), ramp.path)
    denoiser = make_denoiser(model, spec)
    denoiser.check_geometry(geometry, ramp.path, allow_unmeasured=any_layout)
    return denoiser.denoise(ramp, geometry, settings, progress=progress, row_range=row_range, fit=fit)


def denoise_file_split(path: str, model_path: str, geometry: ReadoutGeometry, client, parts: int,
                       settings: DenoiseSettings = DEFAULT_SETTINGS, *, any_layout: bool = False,
                       **changes) -> FluxImage:
    """:func:`denoise_ramp` of one large file with its work split into ``parts`` tasks on a Dask ``client``."""
    settings = dataclasses.replace(settings, **changes) if changes else settings
    denoiser = load_denoiser(model_path)
    denoiser.check_geometry(geometry, path, allow_unmeasured=any_layout)
    return denoiser.denoise_split(path, model_path, geometry, client, parts, settings)
