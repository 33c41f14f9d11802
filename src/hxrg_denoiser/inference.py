"""Apply a trained model to a full frame, streamed by row strips with bounded memory.

Each strip is read with one extra row above and below (the network sees rows
``y - 1 .. y + 1``) plus the halo of the reference correction, corrected,
turned into ribbons and predicted in batches of rows; the output is put back
from readout order into the image (butterfly undone).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from tqdm.auto import tqdm

from hxrg_denoiser.dq import PixelFlag
from hxrg_denoiser.errors import GeometryError, RampInputError, UnavailableError, UsageError
from hxrg_denoiser.fitting import FitOptions, FluxImage, fit_file_split, fit_ramp, flux_meta
from hxrg_denoiser.flux_denoise import denoise_flux_image
from hxrg_denoiser.geometry import ReadoutGeometry, geometry_for_shape
from hxrg_denoiser.io.ramps import Ramp
from hxrg_denoiser.models.registry import ModelSpec
from hxrg_denoiser.models.ribbons import row_ribbons, stack_neighbours
from hxrg_denoiser.strips import StripStream, row_ranges

__all__ = ["denoise_ramp", "denoise_file_split", "pick_device", "check_model_geometry", "model_geometry"]

log = logging.getLogger(__name__)

# Architectures that denoise a reference-corrected up-the-ramp image rather than the reads.
FLUX_IMAGE_ARCHITECTURES = ("readout-set",)


def pick_device(device: str = "auto") -> torch.device:
    """The torch device for ``device``: ``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.

    Raises
    ------
    UsageError
        If ``device`` names no such kind of device.
    UnavailableError
        If it asks for CUDA on a machine without it (or a GPU index it does not have).
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError):
        chosen = None
    if chosen is None or chosen.type not in ("cpu", "cuda"):
        raise UsageError(f"--device {device!r}: expected auto, cpu, cuda or cuda:N")
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            raise UnavailableError(f"--device {device}: CUDA is not available on this machine "
                                   f"(torch {torch.__version__}); use --device cpu or auto")
        if chosen.index is not None and chosen.index >= torch.cuda.device_count():
            raise UnavailableError(f"--device {device}: this machine has {torch.cuda.device_count()} GPU(s)")
    return chosen


def check_model_geometry(spec: ModelSpec, geometry: ReadoutGeometry, source: str) -> None:
    """Refuse data whose channels, channel width or reference border differ from the model's."""
    trained = spec.readout_geometry
    for field in ("n_channels", "channel_width", "ref_border", "butterfly"):
        want, got = getattr(trained, field), getattr(geometry, field)
        if want != got:
            raise GeometryError(
                f"{source}: model {spec.name!r} was trained for {field} = {want}, the data have {got}"
            )


def model_geometry(
    spec: ModelSpec,
    shape: tuple[int, int],
    source: str,
    *,
    name: str | None = None,
    n_channels: int | None = None,
    butterfly: bool = True,
) -> ReadoutGeometry:
    """Geometry of reads of ``shape``: from a preset or channel count if given, else the model's own (any rows)."""
    if name is not None or n_channels is not None:
        return geometry_for_shape(shape, name=name, n_channels=n_channels, butterfly=butterfly, source=source)
    geometry = spec.readout_geometry.with_rows(shape[0])
    if geometry.n_cols != shape[1]:
        raise GeometryError(
            f"{source}: reads have {shape[1]} columns, model {spec.name!r} expects {geometry.n_cols}; "
            "give --geometry or --channels"
        )
    return geometry


def _predict(model: torch.nn.Module, inputs: np.ndarray, device: torch.device, precision: str) -> np.ndarray:
    tensor = torch.from_numpy(inputs).to(device)
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        return model(tensor).float().cpu().numpy()


def denoise_ramp(
    ramp: Ramp,
    model: torch.nn.Module,
    spec: ModelSpec,
    geometry: ReadoutGeometry,
    *,
    strip_rows: int = 64,
    batch_rows: int = 16,
    device: str = "auto",
    precision: str = "fp32",
    progress: bool = False,
    row_range: tuple[int, int] | None = None,
    flag_non_finite: bool = False,
) -> FluxImage:
    """Flux image of ``ramp`` predicted by ``model``.

    Parameters
    ----------
    ramp : Ramp
        At least ``spec.n_reads`` reads (the first ones are used).
    model : torch.nn.Module
    spec : ModelSpec
    geometry : ReadoutGeometry
        Geometry of the data; channels, width and reference border must match the model's.
    strip_rows, batch_rows : int
        Rows read at a time and rows per network call; neither changes the result.
    device : str
        ``auto``, ``cpu`` or ``cuda``.
    precision : {"fp32", "bf16"}
        bf16 autocast is faster on CPUs with AMX and on GPUs, at ~3 significant digits.
    row_range : (int, int), optional
        Only the strips starting in these rows (strip-aligned); other rows stay NaN.
    flag_non_finite : bool
        Flag science pixels with NaN/inf/BLANK input values (SCI NaN) instead of refusing the ramp.

    Returns
    -------
    FluxImage
        ``payeur2022``: ``sci`` in electrons over ``spec.label_reads`` frames;
        ``err`` is NaN (not predicted); reference pixels are NaN and flagged.
        Flux-image models (``readout-set``, e.g. the shipped ``default``): the
        reference-corrected up-the-ramp fit with the predicted correlated noise
        removed, in electrons over the ramp, with the fit's ERR and DQ
        (``batch_rows`` and ``row_range`` do not apply). Pixels where the
        network's output is not finite are flagged ``DO_NOT_USE`` and
        ``UNRELIABLE_SLOPE``.
    """
    if precision not in ("fp32", "bf16"):
        raise UsageError(f"--precision must be 'fp32' or 'bf16', got {precision!r}")
    geometry = geometry.for_data((ramp.n_rows, ramp.n_cols), ramp.path)
    check_model_geometry(spec, geometry, ramp.path)
    torch_device = pick_device(device)
    if spec.architecture in FLUX_IMAGE_ARCHITECTURES:
        options = _flux_fit_options(spec, strip_rows, flag_non_finite)
        image = fit_ramp(ramp, geometry, options, progress=progress, description=f"fit for {spec.name}")
        return _denoised_flux(image, model, spec, geometry, torch_device, precision, progress=progress)
    if ramp.n_reads < spec.n_reads:
        raise RampInputError(f"{ramp.path}: {ramp.n_reads} reads, model {spec.name!r} needs at least {spec.n_reads}")
    model = model.to(torch_device).eval()
    stream = StripStream(ramp, geometry, refcorr=spec.refcorr, strip_rows=strip_rows, flag_non_finite=flag_non_finite)
    sci = np.full(geometry.shape, np.nan, dtype=np.float32)
    non_finite = np.zeros(geometry.shape, dtype=bool)
    first, last = 1, geometry.n_rows - 2  # rows with a neighbour on each side
    strips = [s for s in stream.strips if row_range is None or row_range[0] <= s.start < row_range[1]]

    def prepare(strip):
        """Ribbons of a strip's rows (with one neighbour row each side), or None if it has no predictable row."""
        start, stop = max(strip.start, first), min(strip.stop, last + 1)
        if start >= stop:
            return start, None
        data = stream.load(stream.band(start - 1, stop + 1))  # rows start-1 .. stop
        non_finite[start:stop] = data.non_finite[1:-1]
        return start, row_ribbons(data.electrons, geometry, spec.n_reads)

    # The next strip is read and turned into ribbons in a thread while the network runs on this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(prepare, strips[0]) if strips else None
        for index in tqdm(range(len(strips)), desc=f"denoise {spec.name}", unit="strip", disable=not progress,
                          leave=False):
            start, ribbons = pending.result()
            pending = pool.submit(prepare, strips[index + 1]) if index + 1 < len(strips) else None
            if ribbons is None:
                continue
            centres = np.arange(1, ribbons.shape[0] - 1)
            for i in range(0, centres.size, batch_rows):
                batch = centres[i : i + batch_rows]
                outputs = _predict(model, stack_neighbours(ribbons, batch, spec.input_scale), torch_device, precision)
                readout = outputs.transpose(0, 2, 1) / np.float32(spec.label_scale)  # (rows, channels, width)
                sci[start + batch - 1] = geometry.to_image_order(readout)
    return _flux_image(sci, ramp, spec, geometry, precision, non_finite)


def _flux_fit_options(spec: ModelSpec, strip_rows: int, flag_non_finite: bool = False) -> FitOptions:
    """The fit a flux-image model takes as input: up-the-ramp after the model's reference correction."""
    return FitOptions(method="utr", refcorr=spec.refcorr, strip_rows=strip_rows, flag_non_finite=flag_non_finite)


def _flag_model_failures(sci: np.ndarray, dq: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """DQ with ``DO_NOT_USE | UNRELIABLE_SLOPE`` where a usable pixel's model output is not finite."""
    failed = usable & ~np.isfinite(sci)
    if failed.any():
        log.warning("the model's output is not finite at %d pixels; they are flagged", int(failed.sum()))
    return dq | np.where(failed, np.uint32(PixelFlag.DO_NOT_USE | PixelFlag.UNRELIABLE_SLOPE), np.uint32(0))


def _denoised_flux(
    image: FluxImage, model: torch.nn.Module, spec: ModelSpec, geometry: ReadoutGeometry,
    device: torch.device, precision: str, *, progress: bool = False,
) -> FluxImage:
    """A flux-image model applied to a reference-corrected up-the-ramp image; ERR and DQ are the fit's."""
    model = model.to(device).eval()
    with tqdm(total=1, desc=f"denoise {spec.name}", unit="image", disable=not progress, leave=False) as bar:
        sci = denoise_flux_image(image.sci, geometry, model, device=device, precision=precision)
        bar.update()
    usable = np.isfinite(image.sci) & ~geometry.reference_mask
    meta = {**image.meta, "method": spec.name}
    meta.update(model=spec.name, architecture=spec.architecture, model_version=spec.version, precision=precision,
                label_reads=image.meta["n_reads"])
    return FluxImage(sci, image.err, _flag_model_failures(sci, image.dq, usable).astype(np.uint32), meta)


def _flux_image(
    sci: np.ndarray, ramp: Ramp, spec: ModelSpec, geometry: ReadoutGeometry, precision: str,
    non_finite: np.ndarray | None = None,
) -> FluxImage:
    """SCI with reference pixels NaN, flags, NaN ERR (not predicted) and provenance."""
    reference = geometry.reference_mask
    sci[reference] = np.nan
    dq = np.where(reference, np.uint32(PixelFlag.REFERENCE_PIXEL), np.uint32(0)).astype(np.uint32)
    if non_finite is not None and non_finite.any():
        sci[non_finite] = np.nan
        dq[non_finite] |= np.uint32(PixelFlag.NON_FINITE_INPUT | PixelFlag.DO_NOT_USE)
    rows = np.zeros(geometry.shape, dtype=bool)
    rows[1:-1] = True  # rows with a neighbour each side are predicted
    predicted = rows & ~reference & ~dq.astype(bool)
    dq = _flag_model_failures(sci, dq, predicted)
    dq[~reference & ~np.isfinite(sci)] |= np.uint32(PixelFlag.DO_NOT_USE)
    meta = flux_meta(ramp, geometry, spec.name, units="e-", gain=1.0, read_noise=float("nan"), model=spec.name,
                     architecture=spec.architecture, model_version=spec.version, label_reads=spec.label_reads,
                     precision=precision)
    return FluxImage(sci, np.full(geometry.shape, np.nan, dtype=np.float32), dq, meta)


def _denoise_rows_of_file(path: str, model_path: str, geometry: ReadoutGeometry, settings: dict, start: int, stop: int):
    from hxrg_denoiser.io.ramps import open_ramp
    from hxrg_denoiser.models.registry import load_model

    model, spec = load_model(model_path)
    with open_ramp(path) as ramp:
        image = denoise_ramp(ramp, model, spec, geometry, row_range=(start, stop), **settings)
    return image.sci[start:stop]


def denoise_file_split(path: str, model_path: str, geometry: ReadoutGeometry, client, parts: int, **settings) -> FluxImage:
    """:func:`denoise_ramp` of one large file with its rows split into ``parts`` tasks on a Dask ``client``."""
    from hxrg_denoiser.io.ramps import open_ramp
    from hxrg_denoiser.models.registry import load_model

    strip_rows = settings.get("strip_rows", 64)
    model, spec = load_model(model_path)
    check_model_geometry(spec, geometry, path)
    device = pick_device(settings.get("device", "auto"))
    if spec.architecture in FLUX_IMAGE_ARCHITECTURES:
        # The rows are fitted in parallel; the network then sees the whole image at once.
        options = _flux_fit_options(spec, strip_rows, settings.get("flag_non_finite", False))
        image = fit_file_split(path, geometry, options, client, parts)
        return _denoised_flux(image, model, spec, geometry, device, settings.get("precision", "fp32"))
    ranges = row_ranges(geometry.n_rows, parts, strip_rows)
    futures = [client.submit(_denoise_rows_of_file, path, model_path, geometry, settings, a, b, pure=False)
               for a, b in ranges]
    sci = np.concatenate(client.gather(futures))
    with open_ramp(path) as ramp:
        return _flux_image(sci, ramp, spec, geometry, settings.get("precision", "fp32"))
