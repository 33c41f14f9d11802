"""The levels and forms of a simulated dark ramp's noise, and the detector effects it carries: :class:`NoiseModel`
and its presets. What makes the noise from them is :mod:`hxrg_denoiser.simulate.noise`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from hxrg_denoiser.errors import UsageError

__all__ = ["NoiseModel", "NOISE_PRESETS", "noise_preset", "PICTURE_FRAME_SHAPES", "ACN_FORMS"]

PICTURE_FRAME_SHAPES = ("exp", "linear", "corner", "bowl", "stripes")
ACN_FORMS = ("pink", "even-odd", "row", "common")


@dataclass(frozen=True)
class NoiseModel:
    """Noise levels of a dark ramp; electrons per read unless stated.

    Attributes
    ----------
    white : float
        White read noise of science pixels.
    ref_white : float
        White read noise of reference pixels.
    correlated_pink : float
        RMS of the 1/f noise common to all channels.
    uncorrelated_pink : float
        RMS of the 1/f noise of each channel.
    acn : float
        RMS of the alternating column noise (1/f, opposite sign on even and
        odd readout positions).
    picture_frame : float
        RMS of the edge-heavy low-order pattern, with a new amplitude each read.
    ktc : float
        Per-pixel reset (kTC) pedestal, constant within the ramp.
    bias : float
        Spread of the per-channel bias offsets (constant).
    bias_level : float
        Mean bias level (so that simulated reads look like raw reads).
    pedestal : float
        Per-channel offset drawn anew for each read (NGHXRG "pedestal").
    drift : float
        Spread of per-channel linear bias drifts, electrons per read.
    dark_current : float
        Dark current of science pixels, electrons per second.
    hot_pixel_fraction : float
        Fraction of science pixels that are hot.
    hot_pixel_current : float
        Mean dark current of hot pixels (exponentially distributed), e-/s.
    cosmic_ray_rate : float
        Cosmic-ray hits per square centimetre per second (18 um pixels).
    cosmic_ray_charge : float
        Mean charge of a hit, electrons (spread over a few pixels).
    saturation : float or None
        Full well, electrons of accumulated charge; None for no saturation.
    pink_alpha : float
        Spectral index of the 1/f noises (power ~ f^-alpha; 1 is pink).
    pink_continuous : bool
        1/f noise continuous across reads (True) or drawn anew for each read.
    acn_form : {"pink", "even-odd", "row", "common"}
        ``pink``: one 1/f stream per channel, opposite signs on even and odd
        positions; ``even-odd``: independent 1/f streams on even and odd
        positions (as NGHXRG); ``row``: one white amplitude per channel and
        row, alternating; ``common``: one alternating 1/f stream shared by all channels.
    picture_frame_shape : {"exp", "linear", "corner", "bowl", "stripes"}
        Spatial template of the picture frame (see :func:`picture_frame_template`).
    picture_frame_ref_gain : float
        Reference pixels see this many times the template continued to their
        position (1: the template as drawn; the ``exp`` frame is edge-heavy).
    ref_coupling : float
        Reference pixels see this fraction of the correlated 1/f noise and ACN of science pixels.
    ref_pink : float
        RMS of a 1/f noise seen by reference pixels only (one stream per channel).
    reset_anomaly : float
        Mean amplitude (electrons in read 0) of the start-of-ramp transient of active pixels, decaying
        exponentially over the reads; per channel 0.3 to 1.7 times this, smooth over the array
        (:mod:`hxrg_denoiser.simulate.detector`).
    reset_tau : float
        Mean decay constant of that transient, reads (per channel 0.6 to 1.4 times this).
    ipc : float
        Inter-pixel capacitance: the fraction of a pixel's charge each of its four nearest neighbours
        reports (the pixel keeps ``1 - 4 ipc``).
    rts_fraction : float
        Fraction of science pixels with random telegraph signal: a two-level offset that switches at
        random between reads.
    rts_amplitude : float
        Mean step of an RTS pixel, electrons (exponentially distributed).
    nonlinearity : float
        Classical non-linearity: a pixel reports ``Q (1 - b Q / 1e5)`` of ``Q`` collected electrons,
        ``b`` this value within +-10 % per pixel (the fractional loss at 100,000 e-).
    detector_seed : int or None
        Seed of what belongs to the detector rather than the exposure (hot pixels, the transient's
        pattern), so that darks and science ramps of one detector share them; None: the exposure's seed.
    """

    white: float = 0.0
    ref_white: float = 0.0
    correlated_pink: float = 0.0
    uncorrelated_pink: float = 0.0
    acn: float = 0.0
    picture_frame: float = 0.0
    ktc: float = 0.0
    bias: float = 0.0
    bias_level: float = 0.0
    pedestal: float = 0.0
    drift: float = 0.0
    dark_current: float = 0.0
    hot_pixel_fraction: float = 0.0
    hot_pixel_current: float = 0.0
    cosmic_ray_rate: float = 0.0
    cosmic_ray_charge: float = 2000.0
    saturation: float | None = None
    pink_alpha: float = 1.0
    pink_continuous: bool = True
    acn_form: str = "pink"
    picture_frame_shape: str = "exp"
    picture_frame_ref_gain: float = 1.0
    ref_coupling: float = 1.0
    ref_pink: float = 0.0
    reset_anomaly: float = 0.0
    reset_tau: float = 1.0
    ipc: float = 0.0
    rts_fraction: float = 0.0
    rts_amplitude: float = 20.0
    nonlinearity: float = 0.0
    detector_seed: int | None = None

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, (bool, str)) or value is None:
                continue
            if not 0 <= value < np.inf:
                raise UsageError(f"noise level {field.name} must be a finite number >= 0, got {value}")
        if self.ipc >= 0.2:
            raise UsageError(f"ipc must be < 0.2 (the fraction each neighbour reports), got {self.ipc}")
        if self.rts_fraction > 1 or self.hot_pixel_fraction > 1:
            raise UsageError("rts_fraction and hot_pixel_fraction are fractions of the pixels, at most 1")
        if self.nonlinearity >= 0.5:
            raise UsageError(f"nonlinearity must be < 0.5 (the fractional loss at 100,000 e-), got {self.nonlinearity}")
        if self.reset_tau <= 0:
            raise UsageError(f"reset_tau must be > 0 reads, got {self.reset_tau}")
        if not 0.2 <= self.pink_alpha <= 2.5:
            raise UsageError(f"pink_alpha must be between 0.2 and 2.5, got {self.pink_alpha}")
        if self.acn_form not in ACN_FORMS:
            raise UsageError(f"acn_form must be one of {ACN_FORMS}, got {self.acn_form!r}")
        if self.picture_frame_shape not in PICTURE_FRAME_SHAPES:
            raise UsageError(f"picture_frame_shape must be one of {PICTURE_FRAME_SHAPES}, "
                             f"got {self.picture_frame_shape!r}")

    def replace(self, **changes: Any) -> NoiseModel:
        """A copy with some levels (or forms) changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain dictionary for headers and JSON."""
        return dataclasses.asdict(self)

    @property
    def correlated_components(self) -> tuple[str, ...]:
        """Components that an oracle with perfect knowledge of the correlated noise removes."""
        return ("correlated_pink", "uncorrelated_pink", "acn", "picture_frame", "pedestal", "drift")


NOISE_PRESETS: dict[str, NoiseModel] = {
    # Published NGHXRG JWST NIRSpec levels (Rauscher 2015); ref_white as specified for this project.
    "nirspec": NoiseModel(
        white=5.2, ref_white=0.8, correlated_pink=3.0, uncorrelated_pink=1.0, acn=0.5, picture_frame=0.2,
        ktc=20.0, bias=500.0, bias_level=10000.0,
    ),
    # Strong correlated noise, as seen on H4RG laboratory systems. Benchmarks depend on these levels.
    "h4rg-lab": NoiseModel(
        white=6.0, ref_white=1.0, correlated_pink=6.0, uncorrelated_pink=3.0, acn=2.0, picture_frame=1.0,
        ktc=20.0, bias=500.0, bias_level=10000.0,
    ),
    # Only white read noise (tests and calibration).
    "white": NoiseModel(white=5.0, ref_white=5.0),
    # No noise at all.
    "none": NoiseModel(),
}


def noise_preset(name: str) -> NoiseModel:
    """The noise preset ``name``."""
    try:
        return NOISE_PRESETS[name]
    except KeyError:
        raise UsageError(f"unknown noise preset {name!r}; choose one of {sorted(NOISE_PRESETS)}") from None
