"""Apply a trained model to a ramp: the functions of the Python API over :mod:`hxrg_denoiser.denoise`.

:func:`denoise_ramp` wraps the model in the :class:`~hxrg_denoiser.denoise.Denoiser`
its class asks for (a flux-image network or a ribbon network) and runs it;
:func:`denoise_file_split` does the same with the work split across a Dask cluster.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from hxrg_denoiser.classical.jumps import CLUSTER_THRESHOLD as DEFAULT_CLUSTER_THRESHOLD
from hxrg_denoiser.classical.jumps import DEFAULT_THRESHOLD as DEFAULT_JUMP_THRESHOLD
from hxrg_denoiser.denoise import DenoiseSettings, check_model_geometry, load_denoiser, make_denoiser, model_geometry
from hxrg_denoiser.denoise import pick_device as pick_device
from hxrg_denoiser.fitting import fit_ramp
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.maps import PixelMap
from hxrg_denoiser.io.product import FluxImage
from hxrg_denoiser.io.ramps import Ramp
from hxrg_denoiser.models.registry import ModelSpec

__all__ = ["denoise_ramp", "denoise_file_split", "pick_device", "check_model_geometry", "model_geometry"]


def denoise_ramp(
    ramp: Ramp,
    model: torch.nn.Module,
    spec: ModelSpec,
    geometry: ReadoutGeometry,
    *,
    strip_rows: int = 64,
    batch_rows: int | None = None,
    device: str = "auto",
    precision: str = "fp32",
    progress: bool = False,
    row_range: tuple[int, int] | None = None,
    flag_non_finite: bool = False,
    calibration=None,
    reference_check: bool = True,
    fit: Callable[..., FluxImage] = fit_ramp,
    any_layout: bool = False,
    saturation: PixelMap | None = None,
    gain: PixelMap | None = None,
    jump_threshold: float | None = DEFAULT_JUMP_THRESHOLD,
    jump_neighbours: bool = False,
    jump_cluster_threshold: float | None = DEFAULT_CLUSTER_THRESHOLD,
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
    strip_rows, batch_rows : int
        Rows read at a time; rows per network call (ribbon networks only). Neither changes the result.
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    precision : {"fp32", "bf16"}
        bf16 autocast is faster on CPUs with AMX and on GPUs, at ~3 significant digits.
    progress : bool
    row_range : (int, int), optional
        Ribbon networks: only the strips starting in these rows (strip-aligned); other rows stay NaN.
    flag_non_finite : bool
        Flag science pixels with NaN/inf/BLANK input values (SCI NaN) instead of refusing the ramp.
    calibration : str, path or SirsCalibration, optional
        Flux-image networks: the detector's calibration; their input is then ``sirs``-corrected.
    reference_check : bool
        Flux-image networks: give the network the image fitted without reference correction when the
        correction adds structure to the dark pixels (recorded as ``REFCORR``, ``REFCHECK``).
    fit : callable
        Flux-image networks: the fitting function ``fit(ramp, geometry, options, **kwargs)``.
    any_layout : bool
        Run a model whose architecture takes any channel layout on a layout it was never measured
        on (with a warning; recorded as ``MODELLAY = 'unmeasured'``). Default: refuse such data.
    saturation : float, path or ndarray, optional
        Flux-image networks: input level (ADU) at and above which a read is saturated, or a per-pixel map.
    gain : float, path or ndarray, optional
        Flux-image networks: electrons per input unit, or a per-pixel map (default: values as they are).
    jump_threshold : float or None
        Flux-image networks: cosmic-ray jump threshold of the input fit, in sigmas (None: no detection).
    jump_neighbours : bool
        Flux-image networks: also flag the neighbours of every jump.
    jump_cluster_threshold : float or None
        Flux-image networks: sigmas above which the 8 neighbours of a jump are flagged at its difference.

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
    settings = DenoiseSettings(strip_rows=strip_rows, batch_rows=batch_rows, device=device, precision=precision,
                               flag_non_finite=flag_non_finite, calibration=calibration,
                               reference_check=reference_check, saturation=saturation, gain=gain,
                               jump_threshold=jump_threshold, jump_neighbours=jump_neighbours,
                               jump_cluster_threshold=jump_cluster_threshold)
    geometry = geometry.for_data((ramp.n_rows, ramp.n_cols), ramp.path)
    denoiser = make_denoiser(model, spec)
    denoiser.check_geometry(geometry, ramp.path, allow_unmeasured=any_layout)
    return denoiser.denoise(ramp, geometry, settings, progress=progress, row_range=row_range,
                                              fit=fit)


def denoise_file_split(path: str, model_path: str, geometry: ReadoutGeometry, client, parts: int,
                       any_layout: bool = False, **settings) -> FluxImage:
    """:func:`denoise_ramp` of one large file with its work split into ``parts`` tasks on a Dask ``client``."""
    denoiser = load_denoiser(model_path)
    denoiser.check_geometry(geometry, path, allow_unmeasured=any_layout)
    return denoiser.denoise_split(path, model_path, geometry, client, parts, DenoiseSettings(**settings))
