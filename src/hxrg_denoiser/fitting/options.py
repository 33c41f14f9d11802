"""What a classical flux image is made with: :class:`FitOptions`, checked when made."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import numpy as np

from hxrg_denoiser.classical.ipc import IpcKernel
from hxrg_denoiser.classical.jumps import CLUSTER_THRESHOLD, DEFAULT_THRESHOLD
from hxrg_denoiser.classical.ramp_fit import METHODS, WEIGHTINGS, JumpTest, SlopeEstimator
from hxrg_denoiser.classical.reference import REFERENCE_METHODS
from hxrg_denoiser.classical.sirs import SirsCalibration, load_calibration
from hxrg_denoiser.errors import UsageError
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.maps import AS_STORED, MapFrame, PixelMap, read_pixel_map
from hxrg_denoiser.io.product import UNITS, FitRecord
from hxrg_denoiser.io.upstream_flags import FlaggedJumps, with_upstream_flags

__all__ = ["FitOptions", "CLASSICAL_FITS", "METHODS", "WEIGHTINGS", "UNITS", "REFCORR_CHOICES", "FINISHING_OPTIONS"]

REFCORR_CHOICES = ("auto",) + REFERENCE_METHODS
# Options that do not change the per-pixel fit of :func:`~hxrg_denoiser.fitting.fit_ramp_rows`: fits that
# differ only in them share it.
FINISHING_OPTIONS = ("clean", "keep_background", "check_errors", "strip_rows", "reference_check", "reference_corrected",
                     "ipc")


@dataclass(frozen=True)
class FitOptions:
    """How to build a flux image.

    Attributes
    ----------
    method : {"cds", "fowler", "utr"}
    refcorr : {"auto", "none", "seed", "smoothed", "sirs"}
        Reference-pixel correction (see :mod:`hxrg_denoiser.classical.reference`
        and, for ``sirs``, :mod:`hxrg_denoiser.classical.sirs`); ``auto`` (the
        default) is ``sirs`` when a calibration is given, else ``seed`` where
        the geometry has reference pixels and ``none`` where it has none.
    weighting : {"ols", "optimal"}
        Up-the-ramp weights: ordinary least squares, or optimal for read
        noise plus Poisson noise.
    fowler_n : int
        Reads averaged at each end for Fowler sampling.
    gain : float, path, ndarray or None
        Electrons per input unit (ADU): one value, or a per-pixel map of the image's shape (FITS file or
        array). None: the values are taken as they are, in electrons if the input's ``BUNIT`` says so and
        in DN otherwise (``BUNIT`` of the output says which).
    read_noise : float, path, ndarray or None
        Read noise per read in electrons, for ``ERR``, jump detection and
        optimal weights: one value, or a per-pixel map of the image's shape
        (FITS file or array); estimated from the data when None.
    units : {"e-", "e-/s"}
        ``SCI`` and ``ERR`` accumulated over the ramp (slope per read times ``n_reads``) or per second
        (slope per read over the time between reads); electrons, or DN when no gain is known.
    bad_pixels : path, ndarray or None
        A mask of the image's shape (FITS file or array), non-zero where a pixel is known to be bad: it is
        flagged ``DO_NOT_USE`` (its values are still computed).
    frame_time : float or None
        Seconds between reads, for ``units="e-/s"``; None: from the header (``TGROUP``, ``TFRAME`` with
        ``NFRAMES`` and ``GROUPGAP``, ``FRMTIME``), else the geometry's frame time
        (:func:`~hxrg_denoiser.io.timing.read_timing`).
    full_frame_timing : bool
        Without timing keywords, the reads are crops of full-frame reads of the geometry's preset.
    saturation : float, path, ndarray or None
        Input level (ADU) at and above which a read is saturated; later
        reads of that pixel are not used. One value, or a per-pixel map of the
        image's shape (a FITS file or an array).
    flag_non_finite : bool
        Flag science pixels holding NaN/inf instead of refusing the ramp.
    strip_rows : int
        Rows processed at a time; changes memory use, never the result.
    clean : bool
        Remove the correlated noise left in the flux image with
        :func:`~hxrg_denoiser.classical.cleaning.clean_flux_image` (alternating
        column noise, common mode and channel drifts estimated from dark pixels
        in readout order). ``ERR`` keeps the white + Poisson model.
    keep_background : bool
        With ``clean``: keep the scene's smooth background across the columns (a sky gradient, scattered
        light), in the share that segments of the ramp show to be charge rather than noise of its shape
        (:func:`~hxrg_denoiser.classical.background.smooth_background`); ignored without ``clean``.
    calibration : str, path or SirsCalibration, optional
        The detector's calibration (``hxrg calibrate``), for ``refcorr="sirs"``.
    jump_threshold : float or None
        With 3 reads or more: read differences more than this many sigmas from the pixel's flux per frame
        are jumps (cosmic rays; :mod:`hxrg_denoiser.classical.jumps`), flagged ``JUMP_DET``; up the ramp the
        slope is fitted on the segments between them, and CDS and Fowler, whose fixed reads then hold the
        jump in their difference, leave the pixel out (NaN, ``DO_NOT_USE``). None: no jump detection.
    jump_neighbours : bool
        Also flag the same read difference of the 4 neighbours of every jump.
    jump_step : bool
        With jump detection: also test each pixel for one step using all its reads
        (:mod:`hxrg_denoiser.classical.step_test`), which finds jumps half the size the two-point test does.
    jump_cluster_threshold : float or None
        The 8 neighbours of every jump are flagged where the same difference exceeds their expectation by
        this many sigmas (one-sided: a cosmic ray's charge beside its centre). None: no such test.
    jump_flags : FlaggedJumps or None
        Read differences a pipeline before this one flagged as jumps (JWST ``GROUPDQ`` ``JUMP_DET``,
        :mod:`hxrg_denoiser.io.upstream_flags`), fitted around as the jumps found here are (up the ramp) and
        flagged ``JUMP_DET``: taken as well as those found (with ``jump_threshold=None``, alone).
    groupdq_jumps : bool
        :meth:`with_upstream_flags` also takes the jumps a ramp file's ``GROUPDQ`` flags (``jump_flags``).
    dark : path or None
        A dark ramp or dark-rate image subtracted read by read before the fit
        (:mod:`hxrg_denoiser.io.darks`): dark current, hot pixels and the start transient leave the slopes.
    linearity : path or None
        A non-linearity correction (JWST ``LINEARITY`` reference file or coefficient cube) applied to the raw
        reads before the dark (:mod:`hxrg_denoiser.io.linearity`).
    ipc : IpcKernel or None
        The detector's interpixel capacitance: ``VAR_POISSON`` is scaled by the share of the photon variance
        a pixel keeps (:attr:`~hxrg_denoiser.classical.ipc.IpcKernel.photon_variance_scale`); None: none.
    flagged_from : ndarray or None
        Each pixel's first read (index in the whole ramp) that a pipeline before this fit flagged not to use
        (JWST ``GROUPDQ``: saturated or do-not-use), shape ``(n_rows, n_cols)``, integer; the ramp's read count
        where none is. Those reads count as saturated.
    pixel_flags : ndarray or None
        DQ bits a pipeline before this fit set (JWST ``PIXELDQ``), shape ``(n_rows, n_cols)``, carried into DQ.
    first_read : int or "auto"
        Index (from 0) of the first read used; ``auto``: the first read after the start transient
        (reset anomaly) has settled, measured on the ramp's dark pixels
        (:mod:`hxrg_denoiser.classical.start_transient`). SCI keeps the flux of the whole ramp.
    last_read : int or None
        Index of the last read used (None: the ramp's last).
    reference_corrected : bool
        The reads come corrected by their reference pixels already (JWST's ``refpix`` ran): with
        ``refcorr="none"``, the ERR check then treats the image as a reference-corrected one (its light found
        on the image itself, its read-noise scale checked on the halves of the ramp,
        :mod:`hxrg_denoiser.fitting.half_ramp`).
    reference_check : bool
        Compare the fit with the reference correction and without it and keep the plain fit where its dark
        pixels show clearly less structure (:mod:`hxrg_denoiser.fitting.reference_choice`); with ``clean``
        the images are compared before cleaning. The plain image comes from the corrected fit's own rows (the
        same reads, jumps and weights); the ramp is fitted again only where the plain fit is taken (and for
        optimal weights, which depend on the reads). ``hxrg fit`` checks unless ``--no-reference-check``.
    check_errors : bool
        Scale ``VAR_RNOISE`` to the spread of the image's dark pixels and measure the column correlation of
        its errors (:func:`calibrated_errors`); off for a fit that is only a model's input (the model's
        output is checked instead).
    """

    method: str = "utr"
    refcorr: str = "auto"
    weighting: str = "ols"
    fowler_n: int = 4
    gain: PixelMap | None = None
    read_noise: PixelMap | None = None
    units: str = "e-"
    saturation: PixelMap | None = None
    flag_non_finite: bool = False
    strip_rows: int = 128
    clean: bool = False
    keep_background: bool = True
    calibration: str | os.PathLike | SirsCalibration | None = None
    jump_threshold: float | None = DEFAULT_THRESHOLD
    jump_neighbours: bool = False
    jump_cluster_threshold: float | None = CLUSTER_THRESHOLD
    jump_step: bool = True
    frame_time: float | None = None
    full_frame_timing: bool = False
    bad_pixels: PixelMap | None = None
    dark: str | os.PathLike | None = None
    linearity: str | os.PathLike | None = None
    ipc: IpcKernel | None = None
    jump_flags: FlaggedJumps | None = None
    groupdq_jumps: bool = False
    flagged_from: np.ndarray | None = None
    pixel_flags: np.ndarray | None = None
    first_read: int | str = 0
    last_read: int | None = None
    reference_check: bool = False
    reference_corrected: bool = False
    check_errors: bool = True

    def __post_init__(self) -> None:
        _check_choice("method", self.method, METHODS)
        _check_choice("refcorr", self.refcorr, REFCORR_CHOICES)
        _check_choice("weighting", self.weighting, WEIGHTINGS)
        _check_choice("units", self.units, UNITS)
        if self.weighting == "optimal" and self.method != "utr":
            raise UsageError("--weighting optimal applies to --method utr only")
        if self.fowler_n < 1:
            raise UsageError(f"--fowler must be >= 1, got {self.fowler_n}")
        if isinstance(self.gain, (int, float)) and not 0 < self.gain < np.inf:
            raise UsageError(f"--gain must be a finite number > 0, got {self.gain}")
        if self.frame_time is not None and not 0 < self.frame_time < np.inf:
            raise UsageError(f"--frame-time must be a finite number of seconds > 0, got {self.frame_time}")
        if self.frame_time is not None and self.full_frame_timing:
            raise UsageError("--frame-time and --full-frame-timing: give one of them")
        if isinstance(self.read_noise, (int, float)) and not 0 < self.read_noise < np.inf:
            raise UsageError(f"--read-noise must be a finite number > 0 electrons, got {self.read_noise}")
        if isinstance(self.saturation, (int, float)) and not np.isfinite(self.saturation):
            raise UsageError(f"--saturation must be a finite number or a FITS map, got {self.saturation}")
        if self.strip_rows < 1:
            raise UsageError(f"--strip-rows must be >= 1, got {self.strip_rows}")
        if self.jump_threshold is not None and not 0 < self.jump_threshold < np.inf:
            raise UsageError(f"--jump-threshold must be a finite number of sigmas > 0, got {self.jump_threshold}")
        if self.jump_cluster_threshold is not None and not 0 < self.jump_cluster_threshold < np.inf:
            raise UsageError("--jump-cluster-threshold must be a finite number of sigmas > 0, got "
                             f"{self.jump_cluster_threshold}")
        if self.calibration is not None and self.refcorr not in ("auto", "sirs"):
            raise UsageError(f"--calibration applies to --refcorr sirs, not {self.refcorr!r}")
        if self.first_read != "auto" and not (isinstance(self.first_read, int) and self.first_read >= 0):
            raise UsageError(f"--first-read must be a read index >= 0 or 'auto', got {self.first_read!r}")
        if self.last_read is not None and self.last_read < 1:
            raise UsageError(f"--last-read must be a read index >= 1, got {self.last_read}")
        if isinstance(self.first_read, int) and self.last_read is not None and self.last_read <= self.first_read:
            raise UsageError(f"--last-read {self.last_read} must come after --first-read {self.first_read} "
                             "(a flux needs two reads)")
        if self.refcorr == "sirs" and self.calibration is None:
            raise UsageError("--refcorr sirs needs --calibration FILE (made by hxrg calibrate)")

    def with_upstream_flags(self, path: str | os.PathLike, integration: int = 0) -> FitOptions:
        """These options with the GROUPDQ and PIXELDQ of the ramp file ``path`` (:mod:`hxrg_denoiser.io.upstream_flags`),
        where it has them and none were given; with ``groupdq_jumps``, GROUPDQ's jumps too (``jump_flags``)."""
        return with_upstream_flags(self, path, integration, self.groupdq_jumps)

    def resolved(self, geometry: ReadoutGeometry) -> FitOptions:
        """These options with ``refcorr="auto"`` replaced by what it means for ``geometry``."""
        if self.refcorr != "auto":
            return self
        if self.calibration is not None:
            return dataclasses.replace(self, refcorr="sirs")
        return dataclasses.replace(self, refcorr="seed" if geometry.ref_border > 0 else "none")

    def electrons_per_unit(self, shape: tuple[int, int], frame: MapFrame = AS_STORED) -> float | np.ndarray:
        """The gain for data of ``shape`` (in readout order; a map placed by ``frame``): 1 when none was given
        (values taken as they are), a value or a map."""
        return 1.0 if self.gain is None else read_pixel_map(self.gain, shape, "--gain", positive=True, frame=frame)

    def sirs_calibration(self) -> SirsCalibration | None:
        """The calibration object (read from its file when a path was given)."""
        if self.calibration is None or isinstance(self.calibration, SirsCalibration):
            return self.calibration
        return load_calibration(self.calibration)

    def record(self) -> FitRecord:
        """These options as the product records them (maps and calibrations by file name)."""
        calibration = self.calibration
        return FitRecord(
            method=self.method, refcorr=self.refcorr, weighting=self.weighting, clean=self.clean,
            keep_background=self.clean and self.keep_background,
            saturation=self._saturation_text(), read_noise=_map_text(self.read_noise),
            bad_pixels=None if self.bad_pixels is None else str(_map_text(self.bad_pixels)),
            calibration=None if calibration is None else
            "in memory" if isinstance(calibration, SirsCalibration) else str(calibration),
            jump_threshold=self.jump_threshold, jump_neighbours=self.jump_neighbours,
            jump_cluster_threshold=self.jump_cluster_threshold, jump_step=self.jump_step,
            jump_flags=None if self.jump_flags is None else len(self.jump_flags),
            dark=None if self.dark is None else str(self.dark),
            linearity=None if self.linearity is None else str(self.linearity),
            ipc=None if self.ipc is None else self.ipc.source,
            ipc_photon_scale=None if self.ipc is None else self.ipc.photon_variance_scale,
            ipc_photon_correlation=None if self.ipc is None else
            (self.ipc.photon_correlation(0, 1), self.ipc.photon_correlation(1, 0)),
        )

    def _saturation_text(self) -> float | str | None:
        """The saturation check as recorded: the level or map, and ``GROUPDQ`` where upstream flags count."""
        level = _map_text(self.saturation)
        if self.flagged_from is None:
            return level
        return "GROUPDQ" if level is None else f"{level} and GROUPDQ"

    @property
    def corrects_reference(self) -> bool:
        """A reference correction other than ``none`` is asked for (``auto`` counts: it is one where the
        geometry has reference pixels)."""
        return self.refcorr != "none"

    @property
    def reference_free(self) -> bool:
        """The image keeps no correlated noise a reference correction takes out: one is asked for, or the
        reads were corrected upstream (``reference_corrected``)."""
        return self.corrects_reference or self.reference_corrected

    @property
    def estimator(self) -> SlopeEstimator:
        """The per-pixel slope estimator these options ask for."""
        return SlopeEstimator(self.method, self.weighting, self.fowler_n)

    @property
    def jump_test(self) -> JumpTest:
        """The jump test these options ask for."""
        return JumpTest(self.jump_threshold, self.jump_neighbours, self.jump_cluster_threshold, self.jump_step)

    @property
    def label(self) -> str:
        """Short method name, e.g. ``utr_ref_seed``."""
        name = {"fowler": f"fowler{self.fowler_n}", "utr": "utr" if self.weighting == "ols" else "utr_optimal"}
        base = name.get(self.method, self.method)
        label = base if self.refcorr == "none" else f"{base}_ref_{self.refcorr}"
        if not self.clean:
            return label
        return f"{label}_clean" if self.keep_background else f"{label}_clean_nobkg"


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UsageError(f"--{name} must be one of {choices}, got {value!r}")


def _map_text(value: PixelMap | None) -> float | str | None:
    """A pixel-map option as recorded: the value, the file's path, or ``map in memory`` for an array."""
    if value is None or isinstance(value, (int, float)):
        return value
    return "map in memory" if isinstance(value, np.ndarray) else str(value)


# The classical methods every comparison runs (the benchmark, the demo), by name: ``utr_ref_sirs`` only where
# the detector's calibration is given (``auto`` is then ``sirs``).
CLASSICAL_FITS: dict[str, FitOptions] = {
    "cds": FitOptions(method="cds", refcorr="none"),
    "utr": FitOptions(method="utr", refcorr="none"),
    "utr_ref_seed": FitOptions(method="utr", refcorr="seed"),
    "utr_ref_smoothed": FitOptions(method="utr", refcorr="smoothed"),
    "utr_ref_sirs": FitOptions(method="utr", refcorr="auto"),
    "utr_ref_seed_clean": FitOptions(method="utr", refcorr="seed", clean=True),
}
NEEDS_CALIBRATION = ("utr_ref_sirs",)
