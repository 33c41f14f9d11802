"""Networks that take a reference-corrected up-the-ramp image (``readout-set``, the shipped ``default``).

The ramp is fitted up the ramp after the model's reference correction
(``sirs`` with the detector's calibration); unless the per-exposure check finds
that the correction adds structure to the dark pixels, in which case the fit
without it is taken (:mod:`hxrg_denoiser.classical.reference_check`; the fit
itself checks, ``FitOptions.reference_check``). The
network's estimate of the correlated noise is then removed
(:func:`~hxrg_denoiser.models.readout_set_image.denoise_flux_image`); ERR and DQ are the fit's.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable

import numpy as np
from tqdm.auto import tqdm

from hxrg_denoiser.classical.correction_evidence import SceneShare, scene_share_of_cleaning, withheld
from hxrg_denoiser.classical.error_model import calibrated_errors, input_covariance
from hxrg_denoiser.classical.half_ramp_errors import MIN_HALF_READS
from hxrg_denoiser.classical.kept_background import RampSegments, smooth_background
from hxrg_denoiser.denoise.base import (
    DEFAULT_SETTINGS,
    Denoiser,
    DenoiseSettings,
    flag_model_failures,
    pick_device,
    register,
    served_layout_name,
)
from hxrg_denoiser.errors import UsageError
from hxrg_denoiser.fitting import FitOptions, fit_file_split, fit_ramp
from hxrg_denoiser.fitting.half_ramp import fit_halves, needs_halves, rescaled_on_halves
from hxrg_denoiser.fitting.segments import ramp_segments
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.product import FluxImage, ModelRun
from hxrg_denoiser.io.ramps import Ramp
from hxrg_denoiser.models.readout_set import ReadoutSetNet
from hxrg_denoiser.models.readout_set_image import denoise_flux_image

__all__ = ["ReadoutSetDenoiser"]

log = logging.getLogger(__name__)


@register("flux-image")
class ReadoutSetDenoiser(Denoiser):
    """A network that corrects a flux image (see the module description)."""

    any_layout = True  # every layer is shared by the channels and is a convolution: any count, any width
    fits_its_input = True

    @property
    def min_reads(self) -> int:
        return 2

    def _calibration(self, settings: DenoiseSettings):
        """The calibration given, else the one a model trained on sirs-corrected images keeps beside its weights."""
        if settings.calibration is not None or not self.spec.takes_calibrated_input:
            return settings.calibration
        path = self.spec.training.get("calibration_path")
        if path is None:
            raise UsageError(f"model {self.name!r} takes sirs-corrected images: give the detector's --calibration")
        return path

    def fit_options(self, settings: DenoiseSettings) -> FitOptions:
        """The fit the network takes: up-the-ramp after its reference correction (``sirs`` when calibrated)."""
        if settings.batch_rows is not None:
            raise UsageError("--batch-rows applies to ribbon models (payeur2022), not to a flux-image model")
        calibration = self._calibration(settings)
        refcorr = "sirs" if calibration is not None else self.spec.refcorr
        return FitOptions(method="utr", refcorr=refcorr, strip_rows=settings.strip_rows,
                          flag_non_finite=settings.flag_non_finite, calibration=calibration,
                          jump_threshold=settings.jump_threshold, jump_neighbours=settings.jump_neighbours,
                          jump_cluster_threshold=settings.jump_cluster_threshold, jump_step=settings.jump_step,
                          saturation=settings.saturation, gain=settings.gain, dark=settings.dark,
                          linearity=settings.linearity, ipc=settings.ipc, flagged_from=settings.flagged_from,
                          pixel_flags=settings.pixel_flags, first_read=settings.fit_first_read, last_read=settings.last_read, check_errors=False)

    def correct(self, image: FluxImage, geometry: ReadoutGeometry, settings: DenoiseSettings, *,
                progress: bool = False, segments: Callable[[], RampSegments | None] | None = None,
                halves: Callable[[], tuple[FluxImage, FluxImage] | None] | None = None) -> FluxImage:
        """The network applied to a fitted image; ERR and DQ are the fit's, failures flagged.

        With ``settings.keep_background``, the scene's smooth background is taken out before the network and
        given back after, in the share that segments of the ramp (``segments``) show to be charge rather than
        noise; and, region by region, the share of the network's correction that the segments show to accumulate
        like charge is given back (:mod:`~hxrg_denoiser.classical.correction_evidence`). Where the output's dark
        pixels show an unusually large read-noise scale (light everywhere: a nebula), the fits of the ramp's two
        halves (``halves``) are corrected by the network too and their difference measures it
        (:func:`~hxrg_denoiser.fitting.half_ramp.rescaled_on_halves`).
        """
        device = pick_device(settings.device)
        model = self.model
        if not isinstance(model, ReadoutSetNet):
            raise TypeError(f"a flux-image denoiser needs a ReadoutSetNet, not {type(model).__name__}")
        model.to(device).eval()
        # a sky gradient is continuous across channel boundaries: not the network's to take for channel offsets
        segments = functools.cache(segments) if segments is not None else None
        kept = smooth_background(image.sci, geometry, segments=segments) if settings.keep_background else None
        background = kept.image if kept is not None and kept.image.any() else None
        source = image.sci if background is None else (image.sci - background).astype(np.float32)
        with tqdm(total=1, desc=f"denoise {self.name}", unit="image", disable=not progress, leave=False) as bar:
            sci = denoise_flux_image(source, geometry, model, device=device, precision=settings.precision,
                                     correction_window=self.spec.correction_window)
            bar.update()
        share = _scene_share(source, background, geometry, segments) if settings.keep_background else None
        if share is not None:
            sci = withheld(source, sci, share)
        if background is not None:
            sci = (sci + background).astype(np.float32)
        usable = np.isfinite(image.sci) & ~geometry.reference_mask
        provenance, errors = image.provenance.with_method(self.name), image.errors
        err, var_rnoise = image.err, image.var_rnoise
        if var_rnoise is not None and image.var_poisson is not None:  # correlated noise removed: white read noise left
            white = provenance.white_read_noise
            scale = 1.0 if image.errors is None else image.errors.read_noise_scale
            ratio = (white / provenance.read_noise) ** 2 / scale  # the fit's scale undone
            before = input_covariance(image.sci, image.var_poisson, var_rnoise, image.dq, geometry) \
                if self.spec.lit_covariance_fraction > 0 else None
            err, var_rnoise, errors = calibrated_errors(
                sci, image.var_poisson, var_rnoise * np.float32(ratio), image.dq, geometry,
                lit_read_scale=self.spec.lit_read_scale, lit_covariance_fraction=self.spec.lit_covariance_fraction,
                covariance_before=before)
            provenance = dataclasses.replace(provenance, read_noise=float(white))
        run = ModelRun(self.name, self.spec.architecture, self.spec.version, image.provenance.n_reads,
                       settings.precision, served_layout_name(self.spec, geometry) or "unmeasured",
                       background_kept=kept.fraction if kept is not None else None,
                       background_evidence=kept.evidence if kept is not None else None,
                       background_rows_kept=kept.row_fraction if kept is not None else None,
                       scene_share=share.mean if share is not None else None, source=self.spec.source,
                       weights_sha256=self.spec.weights_sha256)
        result = image._replace(sci=sci, err=err, dq=flag_model_failures(sci, image.dq, usable),
                                provenance=provenance, errors=errors, model=run, var_rnoise=var_rnoise)
        if halves is not None and needs_halves(result, geometry):
            halved = halves()
            if halved is not None:
                result = self._checked_on_halves(result, halved, background, geometry, settings, device)
        return result

    def _checked_on_halves(self, image: FluxImage, halves: tuple[FluxImage, FluxImage], background: np.ndarray | None,
                           geometry: ReadoutGeometry, settings: DenoiseSettings, device) -> FluxImage:
        """``image`` (the network's) with its read-noise scale from the network's images of the ramp's halves
        (their background taken out as the image's was), each predicted to hold its fit's white read noise."""
        model = self.model
        assert isinstance(model, ReadoutSetNet)  # as correct() checked
        corrected, predicted, photons = [], [], []
        for half in halves:
            if half.var_rnoise is None or half.var_poisson is None:
                return image
            source = half.sci if background is None else (half.sci - background).astype(np.float32)
            corrected.append(denoise_flux_image(source, geometry, model, device=device, precision=settings.precision,
                                                correction_window=self.spec.correction_window))
            record = half.provenance  # correlated noise removed: white read noise left
            predicted.append(half.var_rnoise * np.float32((record.white_read_noise / record.read_noise) ** 2))
            photons.append(half.var_poisson)
        usable = (halves[0].dq == 0) & (halves[1].dq == 0)
        return rescaled_on_halves(image, (corrected[0], corrected[1]), predicted[0] + predicted[1],
                                  photons[0] + photons[1], usable, geometry)

    def denoise(self, ramp: Ramp, geometry: ReadoutGeometry, settings: DenoiseSettings = DEFAULT_SETTINGS, *,
                progress: bool = False, row_range: tuple[int, int] | None = None,
                fit: Callable[..., FluxImage] = fit_ramp) -> FluxImage:
        pick_device(settings.device)  # a missing GPU is reported before the fit

        def fit_input(chosen: FitOptions) -> FluxImage:
            return fit(ramp, geometry, chosen, progress=progress, description=f"fit for {self.name}")

        options = self.fit_options(settings)
        image = fit_input(dataclasses.replace(options, reference_check=settings.reference_check))
        return self.correct(image, geometry, settings, progress=progress, segments=_segments_of(fit_input, options, image),
                            halves=_halves_of(fit_input, options, image))

    def denoise_split(self, path: str, model_path: str, geometry: ReadoutGeometry, client, parts: int,
                      settings: DenoiseSettings) -> FluxImage:
        # The rows are fitted in parallel; the network then sees the whole image at once.
        def fit_input(chosen: FitOptions) -> FluxImage:
            return fit_file_split(path, geometry, chosen, client, parts)

        options = self.fit_options(settings)
        image = fit_input(dataclasses.replace(options, reference_check=settings.reference_check))
        return self.correct(image, geometry, settings, segments=_segments_of(fit_input, options, image),
                            halves=_halves_of(fit_input, options, image))


def _scene_share(source: np.ndarray, background: np.ndarray | None, geometry: ReadoutGeometry,
                 segments: Callable[[], RampSegments | None] | None) -> SceneShare | None:
    """The share of a correction of ``source`` (the image less its kept ``background``) that is scene, measured
    with the cleaning on the image and on segments of the ramp (the network's correction follows the cleaning's
    shapes: judged by its own power, it withheld less where the network corrects well and no more where it
    fails, bench-v3); None without segments."""
    split = segments() if segments is not None else None
    if split is None:
        return None
    if background is not None:
        split = RampSegments([(part - background).astype(np.float32) for part in split.images], split.n_reads)
    return scene_share_of_cleaning(source, geometry, split)


def _as_fitted(options: FitOptions, image: FluxImage) -> FitOptions:
    """``options`` with the reference correction the check chose for ``image``."""
    if image.reference is not None and image.reference.refcorr_used == "none":
        return dataclasses.replace(options, refcorr="none", calibration=None)
    return options


def _halves_of(fit: Callable[[FitOptions], FluxImage], options: FitOptions,
               image: FluxImage) -> Callable[[], tuple[FluxImage, FluxImage] | None]:
    """The image's exposure fitted on each half of the reads it used, as it was fitted, when asked (None where
    a half would hold too few reads, or the correction was left out: the noise both halves share would cancel)."""
    record = image.provenance.fit
    options = _as_fitted(options, image)

    def halves() -> tuple[FluxImage, FluxImage] | None:
        if record is None or record.first_read is None or record.last_read is None or not options.reference_free \
                or record.last_read - record.first_read + 1 < 2 * MIN_HALF_READS:
            return None
        return fit_halves(fit, options, record.first_read, record.last_read)

    return halves


def _segments_of(fit: Callable[[FitOptions], FluxImage], options: FitOptions,
               image: FluxImage) -> Callable[[], RampSegments | None]:
    """The image's exposure fitted on segments of the reads it used, as it was fitted (its reference correction
    as the check chose it), when asked."""
    record = image.provenance.fit
    options = _as_fitted(options, image)

    def segments() -> RampSegments | None:
        if record is None or record.first_read is None or record.last_read is None:
            return None
        return ramp_segments(fit, options, record.first_read, record.last_read)

    return segments
