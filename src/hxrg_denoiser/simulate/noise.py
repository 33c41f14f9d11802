"""HxRG dark-ramp noise of the NGHXRG class (Rauscher 2015), generated in readout-time order.

Every component is generated along the time at which each pixel is sampled,
for any :class:`~hxrg_denoiser.geometry.ReadoutGeometry` (pixel clock, row
overhead, butterfly), and is continuous across reads: 1/f noise is the sum of
a per-frame part (frequencies from the frame rate up to the pixel Nyquist
rate, from an inverse FFT over one frame) and a slow part (frequencies from
1/ramp to the frame rate, a sum of sinusoids over the whole ramp), so the low
frequencies drift coherently from read to read while only one frame is held
in memory at a time.

Every component draws from its own random stream keyed by
``(seed, component, read)``, so any read or component can be regenerated on
its own, bit for bit (this is how the oracle removes the correlated noise).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.fft

from hxrg_denoiser.errors import UsageError
from hxrg_denoiser.geometry import ReadoutGeometry

__all__ = ["NoiseModel", "NOISE_PRESETS", "noise_preset", "PinkNoise", "DarkNoise", "component_rng"]

# Stable identifiers of the random streams of each component.
_KEY = {
    "white": 1,
    "ref_white": 2,
    "ktc": 3,
    "bias": 4,
    "correlated_pink": 5,
    "uncorrelated_pink": 6,
    "acn": 7,
    "picture_frame": 8,
    "drift": 9,
    "pedestal": 10,
    "signal": 11,
    "hot_pixels": 12,
    "cosmic_rays": 13,
}


def component_rng(seed: int, component: str, *index: int) -> np.random.Generator:
    """Independent random generator for ``component`` (and read index) under ``seed``."""
    return np.random.default_rng([int(seed), _KEY[component], *(int(i) for i in index)])


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

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is not None and not 0 <= value < np.inf:
                raise UsageError(f"noise level {field.name} must be a finite number >= 0, got {value}")

    def replace(self, **changes: float | None) -> NoiseModel:
        """A copy with some levels changed."""
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


class PinkNoise:
    """Independent 1/f noise streams along readout time, generated one frame at a time.

    The spectrum is flat in power per logarithmic frequency interval from
    ``1 / T_ramp`` to the pixel Nyquist frequency, normalised so that each
    stream's RMS over the ramp is ``level``.

    Parameters
    ----------
    geometry : ReadoutGeometry
    n_reads : int
    n_streams : int
        Number of independent streams (1 for common noise, one per channel).
    level : float
        RMS of each stream.
    seed : int
    component : str
        Name keying the random streams.
    """

    def __init__(
        self, geometry: ReadoutGeometry, n_reads: int, n_streams: int, level: float, seed: int, component: str
    ) -> None:
        self.geometry = geometry
        self.n_reads = n_reads
        self.n_streams = n_streams
        self.seed = seed
        self.component = component
        self.row_samples = geometry.channel_width + geometry.row_overhead
        overhead_samples = int(round(geometry.frame_overhead / geometry.pixel_time))
        self.frame_samples = geometry.n_rows * self.row_samples + overhead_samples
        n_fast = self.frame_samples // 2 - 1  # frame frequencies k / T_frame, k = 1 .. M/2 - 1
        n_slow = n_reads - 1  # ramp frequencies j / T_ramp below the frame rate
        harmonic = np.sum(1.0 / np.arange(1, n_fast + 1)) + np.sum(1.0 / np.arange(1, n_slow + 1))
        self.amplitude = level / np.sqrt(harmonic) if level > 0 else 0.0
        rng = component_rng(seed, component, 0, 0)
        # Slow part: sinusoids j / T_ramp with variance amplitude^2 / j each.
        self.slow_sigma = self.amplitude / np.sqrt(np.arange(1, n_slow + 1))
        self.slow_coefficients = rng.standard_normal((2, n_streams, n_slow))

    def slow_part(self, read: int) -> np.ndarray:
        """Slow drift of each stream at the start of every row of ``read``, shape ``(n_streams, n_rows)``."""
        n_slow = self.slow_sigma.size
        if n_slow == 0 or self.amplitude == 0:
            return np.zeros((self.n_streams, self.geometry.n_rows))
        ramp_samples = self.frame_samples * self.n_reads
        t = (read * self.frame_samples + np.arange(self.geometry.n_rows) * self.row_samples) / ramp_samples
        phase = 2 * np.pi * np.outer(np.arange(1, n_slow + 1), t)  # (n_slow, n_rows)
        cos_part = (self.slow_coefficients[0] * self.slow_sigma) @ np.cos(phase)
        sin_part = (self.slow_coefficients[1] * self.slow_sigma) @ np.sin(phase)
        return cos_part + sin_part

    def fast_part(self, read: int) -> np.ndarray:
        """Per-frame part of each stream over every sample of ``read``, shape ``(n_streams, frame_samples)``."""
        m = self.frame_samples
        n_fast = m // 2 - 1
        rng = component_rng(self.seed, self.component, 1, read)
        sigma = (self.amplitude / np.sqrt(np.arange(1, n_fast + 1))).astype(np.float32)
        spectrum = np.zeros((self.n_streams, m // 2 + 1), dtype=np.complex64)
        coefficients = rng.standard_normal((2, self.n_streams, n_fast), dtype=np.float32)
        spectrum[:, 1 : n_fast + 1].real = coefficients[0] * sigma
        spectrum[:, 1 : n_fast + 1].imag = coefficients[1] * sigma
        spectrum *= m / 2.0
        return scipy.fft.irfft(spectrum, n=m, axis=-1, workers=-1).astype(np.float32)

    def frame(self, read: int) -> np.ndarray:
        """The streams at every pixel of ``read``, shape ``(n_streams, n_rows, channel_width)``."""
        g = self.geometry
        if self.amplitude == 0:
            return np.zeros((self.n_streams, g.n_rows, g.channel_width), dtype=np.float32)
        fast = self.fast_part(read)[:, : g.n_rows * self.row_samples]
        fast = fast.reshape(self.n_streams, g.n_rows, self.row_samples)[:, :, : g.channel_width]
        return fast + self.slow_part(read)[:, :, None].astype(np.float32)


class DarkNoise:
    """Noise of a dark ramp, read by read, in electrons.

    Parameters
    ----------
    geometry : ReadoutGeometry
    n_reads : int
    model : NoiseModel
    seed : int
    """

    def __init__(self, geometry: ReadoutGeometry, n_reads: int, model: NoiseModel, seed: int) -> None:
        if n_reads < 1:
            raise ValueError(f"n_reads must be >= 1, got {n_reads}")
        self.geometry = geometry
        self.n_reads = n_reads
        self.model = model
        self.seed = seed
        nc = geometry.n_channels
        self.correlated_pink = PinkNoise(geometry, n_reads, 1, model.correlated_pink, seed, "correlated_pink")
        self.uncorrelated_pink = PinkNoise(geometry, n_reads, nc, model.uncorrelated_pink, seed, "uncorrelated_pink")
        self.acn = PinkNoise(geometry, n_reads, nc, model.acn, seed, "acn")
        self.channel_drift = component_rng(seed, "drift").normal(0.0, 1.0, nc) * model.drift

    @cached_property
    def bias_image(self) -> np.ndarray:
        """Constant bias: level, per-channel offsets and per-pixel kTC pedestal, float32 image."""
        g = self.geometry
        channel = component_rng(self.seed, "bias").normal(0.0, 1.0, g.n_channels) * self.model.bias
        image = np.repeat(self.model.bias_level + channel, g.channel_width)[None, :].astype(np.float32)
        if self.model.ktc > 0:
            ktc = component_rng(self.seed, "ktc").standard_normal(g.shape, dtype=np.float32) * np.float32(self.model.ktc)
            return image + ktc
        return np.broadcast_to(image, g.shape).copy()

    @cached_property
    def picture_frame_pattern(self) -> np.ndarray:
        """Edge-heavy low-order pattern of unit RMS, float32 image."""
        g = self.geometry
        y = np.minimum(np.arange(g.n_rows), np.arange(g.n_rows)[::-1])[:, None]
        x = np.minimum(np.arange(g.n_cols), np.arange(g.n_cols)[::-1])[None, :]
        scale = max(8.0, min(g.n_rows, g.n_cols) / 32.0)
        pattern = np.exp(-np.minimum(y, x) / scale) + 0.3 * np.cos(np.pi * np.arange(g.n_rows) / g.n_rows)[:, None]
        pattern = pattern - pattern.mean()
        return (pattern / pattern.std()).astype(np.float32)

    def correlated(self, read: int) -> np.ndarray:
        """Correlated noise of ``read`` (everything an oracle would remove), float32 image."""
        g = self.geometry
        m = self.model
        readout = np.zeros((g.n_rows, g.n_channels, g.channel_width), dtype=np.float32)
        if m.correlated_pink > 0:
            readout += self.correlated_pink.frame(read)[0][:, None, :]
        if m.uncorrelated_pink > 0:
            readout += self.uncorrelated_pink.frame(read).transpose(1, 0, 2)
        if m.acn > 0:
            sign = np.where(np.arange(g.channel_width) % 2 == 0, 1.0, -1.0).astype(np.float32)
            readout += self.acn.frame(read).transpose(1, 0, 2) * sign
        if m.pedestal > 0 or m.drift > 0:
            pedestal = component_rng(self.seed, "pedestal", read).normal(0.0, 1.0, g.n_channels) * m.pedestal
            readout += (pedestal + self.channel_drift * read).astype(np.float32)[None, :, None]
        image = g.to_image_order(readout)
        if m.picture_frame > 0:
            amplitude = component_rng(self.seed, "picture_frame", read).standard_normal() * m.picture_frame
            image += np.float32(amplitude) * self.picture_frame_pattern
        return image

    def white(self, read: int) -> np.ndarray:
        """White read noise of ``read``: ``white`` on science pixels, ``ref_white`` on reference pixels."""
        g = self.geometry
        noise = component_rng(self.seed, "white", read).standard_normal(g.shape, dtype=np.float32)
        sigma = np.where(g.reference_mask, np.float32(self.model.ref_white), np.float32(self.model.white))
        return noise * sigma

    def read(self, read: int) -> np.ndarray:
        """Bias + correlated + white noise of ``read`` (no accumulated charge), float32 image."""
        return self.bias_image + self.correlated(read) + self.white(read)
