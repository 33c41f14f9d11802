"""Networks that take the reads as ribbons (``payeur2022``), streamed by row strips with bounded memory.

Each strip is read with one extra row above and below (the network sees rows
``y - 1 .. y + 1``) plus the halo of the reference correction, corrected,
turned into ribbons and predicted in batches of rows; the output is put back
from readout order into the image (butterfly undone).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from tqdm.auto import tqdm

from hxrg_denoiser.classical.error_model import network_errors
from hxrg_denoiser.denoise.base import (
    DEFAULT_SETTINGS,
    Denoiser,
    DenoiseSettings,
    flag_model_failures,
    pick_device,
    register,
)
from hxrg_denoiser.dq import PixelFlag
from hxrg_denoiser.errors import RampInputError, UsageError
from hxrg_denoiser.fitting import fit_ramp, ramp_read_noise
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.product import FluxImage, ModelRun, provenance_of
from hxrg_denoiser.io.ramps import Ramp
from hxrg_denoiser.models.payeur2022_ribbons import row_ribbons, stack_neighbours
from hxrg_denoiser.strips import StripStream, row_ranges

__all__ = ["Payeur2022Denoiser"]

DEFAULT_BATCH_ROWS = 16


def _predict(model: torch.nn.Module, inputs: np.ndarray, device: torch.device, precision: str) -> np.ndarray:
    tensor = torch.from_numpy(inputs).to(device)
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        return model(tensor).float().cpu().numpy()


@register("ribbons")
class Payeur2022Denoiser(Denoiser):
    """A network that predicts the flux of each row from the ribbons of its reads (see the module description).

    The output is in electrons over ``spec.label_reads`` frames; ERR is that of the
    up-the-ramp fit of the same reads with the correlated noise removed, scaled to
    what the image's dark pixels show (:func:`~hxrg_denoiser.classical.error_model.network_errors`);
    reference pixels are NaN and flagged.
    """

    def denoise(self, ramp: Ramp, geometry: ReadoutGeometry, settings: DenoiseSettings = DEFAULT_SETTINGS, *,
                progress: bool = False, row_range: tuple[int, int] | None = None,
                fit: Callable[..., FluxImage] = fit_ramp) -> FluxImage:
        spec = self.spec
        if ramp.n_reads < spec.n_reads:
            raise RampInputError(f"{ramp.path}: {ramp.n_reads} reads, model {spec.name!r} needs at least {spec.n_reads}")
        if settings.calibration is not None:
            raise UsageError(f"--calibration applies to flux-image models; {spec.name!r} ({spec.architecture}) takes "
                             f"the reads with its own reference correction ({spec.refcorr})")
        if settings.reads_given:
            raise UsageError(f"--dark, --linearity, --ipc, --first-read and --last-read apply to flux-image models; {spec.name!r} "
                             f"({spec.architecture}) takes every read it was trained on")
        if settings.saturation is not None or settings.gain is not None:
            raise UsageError(f"--saturation and --gain apply to flux-image models; {spec.name!r} ({spec.architecture}) takes "
                             "every read it was trained on")
        device = pick_device(settings.device)
        model = self.model.to(device).eval()
        batch_rows = settings.batch_rows or DEFAULT_BATCH_ROWS
        stream = self._stream(ramp, geometry, settings)
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
                assert pending is not None  # one was submitted for every strip
                start, ribbons = pending.result()
                pending = pool.submit(prepare, strips[index + 1]) if index + 1 < len(strips) else None
                if ribbons is None:
                    continue
                centres = np.arange(1, ribbons.shape[0] - 1)
                for i in range(0, centres.size, batch_rows):
                    batch = centres[i : i + batch_rows]
                    inputs = stack_neighbours(ribbons, batch, spec.input_scale)
                    outputs = _predict(model, inputs, device, settings.precision)
                    readout = outputs.transpose(0, 2, 1) / np.float32(spec.label_scale)  # (rows, channels, width)
                    sci[start + batch - 1] = geometry.to_image_order(readout)
        return self.flux_image(sci, ramp, geometry, settings.precision, ramp_read_noise(stream)[1], non_finite)

    def _stream(self, ramp: Ramp, geometry: ReadoutGeometry, settings: DenoiseSettings) -> StripStream:
        """The ramp's reads by row strips, with the model's reference correction."""
        return StripStream(ramp, geometry, refcorr=self.spec.refcorr, strip_rows=settings.strip_rows,
                           flag_non_finite=settings.flag_non_finite)

    def flux_image(self, sci: np.ndarray, ramp: Ramp, geometry: ReadoutGeometry, precision: str,
                   white_read_noise: float, non_finite: np.ndarray | None = None) -> FluxImage:
        """SCI with reference pixels NaN, flags, errors (:func:`~hxrg_denoiser.classical.error_model.network_errors`) and
        provenance."""
        spec = self.spec
        reference = geometry.reference_mask
        sci[reference] = np.nan
        dq = np.where(reference, np.uint32(PixelFlag.REFERENCE_PIXEL | PixelFlag.DO_NOT_USE), np.uint32(0)).astype(np.uint32)
        if non_finite is not None and non_finite.any():
            sci[non_finite] = np.nan
            dq[non_finite] |= np.uint32(PixelFlag.NON_FINITE_INPUT | PixelFlag.DO_NOT_USE)
        rows = np.zeros(geometry.shape, dtype=bool)
        rows[1:-1] = True  # rows with a neighbour each side are predicted
        dq = flag_model_failures(sci, dq, rows & ~reference & ~dq.astype(bool))
        dq[~reference & ~np.isfinite(sci)] |= np.uint32(PixelFlag.DO_NOT_USE)
        err, var_poisson, var_rnoise, errors = network_errors(
            sci, dq, geometry, n_reads=spec.n_reads, label_reads=spec.label_reads, white_read_noise=white_read_noise)
        provenance = provenance_of(ramp, geometry, spec.name, units="e-", gain=1.0, read_noise=white_read_noise,
                                   read_noise_white=float(white_read_noise))
        model = ModelRun(spec.name, spec.architecture, spec.version, spec.label_reads, precision, source=spec.source,
                         weights_sha256=spec.weights_sha256)
        return FluxImage(sci, err, dq, provenance, var_poisson=var_poisson, var_rnoise=var_rnoise, errors=errors,
                         model=model)

    def denoise_split(self, path: str, model_path: str, geometry: ReadoutGeometry, client, parts: int,
                      settings: DenoiseSettings) -> FluxImage:
        from hxrg_denoiser.io.ramps import open_ramp

        ranges = row_ranges(geometry.n_rows, parts, settings.strip_rows)
        futures = [client.submit(_rows_of_file, path, model_path, geometry, settings, a, b, pure=False)
                   for a, b in ranges]
        sci = np.concatenate(client.gather(futures))
        with open_ramp(path) as ramp:
            white_read_noise = ramp_read_noise(self._stream(ramp, geometry, settings))[1]
            return self.flux_image(sci, ramp, geometry, settings.precision, white_read_noise)


def _rows_of_file(path: str, model_path: str, geometry: ReadoutGeometry, settings: DenoiseSettings, start: int,
                  stop: int) -> np.ndarray:
    """A Dask task: rows ``start:stop`` of the model's image of the ramp at ``path``."""
    from hxrg_denoiser.denoise.base import load_denoiser
    from hxrg_denoiser.io.ramps import open_ramp

    denoiser = load_denoiser(model_path)
    with open_ramp(path) as ramp:
        image = denoiser.denoise(ramp, geometry, settings, row_range=(start, stop))
    return image.sci[start:stop]
