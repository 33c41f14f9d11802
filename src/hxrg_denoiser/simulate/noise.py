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

from functools import cached_property
from typing import Any

import numpy as np
import scipy.fft

from hxrg_denoiser.errors import UsageError
from hxrg_denoiser.geometry import ReadoutGeometry, rows_first
from hxrg_denoiser.simulate.noise_model import ACN_FORMS, NOISE_PRESETS, PICTURE_FRAME_SHAPES, NoiseModel, noise_preset

__all__ = [
    "NoiseModel", "NOISE_PRESETS", "noise_preset", "PinkNoise", "DarkNoise", "component_rng",
    "picture_frame_template", "PICTURE_FRAME_SHAPES", "ACN_FORMS",
]

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
    "ref_pink": 14,
    "acn_odd": 15,
    "reset_anomaly": 16,
    "rts": 17,
    "nonlinearity": 18,
}

def component_rng(seed: int, component: str, *index: int) -> np.random.Generator:
    """Independent random generator for ``component`` (and read index) under ``seed``."""
    return np.random.default_rng([int(seed), _KEY[component], *(int(i) for i in index)])


def picture_frame_template(geometry: ReadoutGeometry, shape: str = "exp") -> np.ndarray:
    """A picture-frame template of zero mean and unit RMS over the whole array, float64 image.

    ``exp``: rises exponentially towards the edges (scale 1/32 of the array,
    at least 8 pixels) plus a slow cosine along rows; ``linear``: rises
    linearly towards the edges with a tilt along columns; ``corner``: heavy in
    the corners; ``bowl``: a quadratic bowl; ``stripes``: a low-order cosine
    along columns that grows along rows.
    """
    g = geometry
    rows, cols = np.arange(g.n_rows), np.arange(g.n_cols)
    y = np.minimum(rows, rows[::-1])[:, None]
    x = np.minimum(cols, cols[::-1])[None, :]
    scale = max(8.0, min(g.n_rows, g.n_cols) / 32.0)
    if shape == "exp":
        pattern = np.exp(-np.minimum(y, x) / scale) + 0.3 * np.cos(np.pi * rows / g.n_rows)[:, None]
    elif shape == "linear":
        half = min(g.n_rows, g.n_cols) / 2.0
        pattern = 1.0 - np.minimum(y, x) / half + 0.5 * (cols / g.n_cols)[None, :]
    elif shape == "corner":
        pattern = np.exp(-np.hypot(y, x) / (4.0 * scale))
    elif shape == "bowl":
        u = (rows - g.n_rows / 2.0) / (g.n_rows / 2.0)
        v = (cols - g.n_cols / 2.0) / (g.n_cols / 2.0)
        pattern = u[:, None] ** 2 + 0.5 * v[None, :] ** 2
    elif shape == "stripes":
        pattern = np.cos(6.0 * np.pi * cols / g.n_cols)[None, :] * (0.5 + rows / g.n_rows)[:, None]
    else:
        raise UsageError(f"picture_frame_shape must be one of {PICTURE_FRAME_SHAPES}, got {shape!r}")
    pattern = pattern - pattern.mean()
    return pattern / pattern.std()


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
    alpha : float
        Power spectrum ~ f^-alpha (1: pink).
    continuous : bool
        Continuous across reads (a slow part over the whole ramp); else each read's stream is drawn anew.
    """

    def __init__(
        self, geometry: ReadoutGeometry, n_reads: int, n_streams: int, level: float, seed: int, component: str,
        *, alpha: float = 1.0, continuous: bool = True,
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
        n_slow = n_reads - 1 if continuous else 0  # ramp frequencies j / T_ramp below the frame rate
        fast, slow = np.arange(1, n_fast + 1), np.arange(1, n_slow + 1)
        if alpha == 1.0:
            self.fast_weight = None  # 1 / sqrt(k), computed as before so that pink noise stays bit-identical
            harmonic = np.sum(1.0 / fast) + np.sum(1.0 / slow)
        else:
            # power per frequency bin ~ f^-alpha df: the ramp harmonics are n_reads times closer than the frame's
            self.fast_weight = fast ** (-alpha / 2.0)
            slow_weight = slow ** (-alpha / 2.0) * n_reads ** ((alpha - 1.0) / 2.0)
            harmonic = np.sum(self.fast_weight**2) + np.sum(slow_weight**2)
        self.amplitude = level / np.sqrt(harmonic) if level > 0 else 0.0
        rng = component_rng(seed, component, 0, 0)
        # Slow part: sinusoids j / T_ramp with variance amplitude^2 / j each (for pink noise).
        if alpha == 1.0:
            self.slow_sigma = self.amplitude / np.sqrt(slow)
        else:
            self.slow_sigma = self.amplitude * slow_weight
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
        if self.fast_weight is None:
            sigma = (self.amplitude / np.sqrt(np.arange(1, n_fast + 1))).astype(np.float32)
        else:
            sigma = (self.amplitude * self.fast_weight).astype(np.float32)
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
        spectrum: dict[str, Any] = {"alpha": model.pink_alpha, "continuous": model.pink_continuous}
        self.correlated_pink = PinkNoise(geometry, n_reads, 1, model.correlated_pink, seed, "correlated_pink", **spectrum)
        self.uncorrelated_pink = PinkNoise(geometry, n_reads, nc, model.uncorrelated_pink, seed, "uncorrelated_pink",
                                           **spectrum)
        acn_streams = 1 if model.acn_form == "common" else nc
        self.acn = PinkNoise(geometry, n_reads, acn_streams, model.acn, seed, "acn", **spectrum)
        self.acn_odd = PinkNoise(geometry, n_reads, nc, model.acn if model.acn_form == "even-odd" else 0.0, seed,
                                 "acn_odd", **spectrum)
        self.ref_pink = PinkNoise(geometry, n_reads, nc, model.ref_pink, seed, "ref_pink", **spectrum)
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
        """The picture-frame template (unit RMS), reference pixels scaled by ``picture_frame_ref_gain``, float32."""
        pattern = picture_frame_template(self.geometry, self.model.picture_frame_shape)
        if self.model.picture_frame_ref_gain != 1.0:
            pattern = np.where(self.geometry.reference_mask, pattern * self.model.picture_frame_ref_gain, pattern)
        return pattern.astype(np.float32)

    def _acn(self, read: int) -> np.ndarray:
        """Alternating column noise of ``read`` in readout order ``(rows, channels, width)``."""
        g, m = self.geometry, self.model
        sign = np.where(np.arange(g.channel_width) % 2 == 0, 1.0, -1.0).astype(np.float32)
        if m.acn_form == "row":
            rng = component_rng(self.seed, "acn", 2, read)
            amplitude = rng.standard_normal((g.n_rows, g.n_channels, 1), dtype=np.float32) * np.float32(m.acn)
            return amplitude * sign
        streams = rows_first(self.acn.frame(read))  # (rows, channels or 1, width)
        if m.acn_form == "even-odd":
            odd = rows_first(self.acn_odd.frame(read))
            return np.where(sign > 0, streams, odd)
        return streams * sign

    def correlated(self, read: int) -> np.ndarray:
        """Correlated noise of ``read`` (everything an oracle would remove), float32 image."""
        g = self.geometry
        m = self.model
        readout = np.zeros((g.n_rows, g.n_channels, g.channel_width), dtype=np.float32)
        if m.correlated_pink > 0:
            readout += self.correlated_pink.frame(read)[0][:, None, :]
        if m.uncorrelated_pink > 0:
            readout += rows_first(self.uncorrelated_pink.frame(read))
        if m.acn > 0:
            readout += self._acn(read)
        if m.ref_coupling != 1.0:
            readout *= self._reference_factor
        if m.ref_pink > 0:
            readout += rows_first(self.ref_pink.frame(read)) * self._reference_readout
        if m.pedestal > 0 or m.drift > 0:
            pedestal = component_rng(self.seed, "pedestal", read).normal(0.0, 1.0, g.n_channels) * m.pedestal
            readout += (pedestal + self.channel_drift * read).astype(np.float32)[None, :, None]
        image = g.to_image_order(readout)
        if m.picture_frame > 0:
            amplitude = component_rng(self.seed, "picture_frame", read).standard_normal() * m.picture_frame
            image += np.float32(amplitude) * self.picture_frame_pattern
        return image

    @cached_property
    def _reference_readout(self) -> np.ndarray:
        """1 on reference pixels, 0 elsewhere, in readout order, float32."""
        return self.geometry.to_readout_order(self.geometry.reference_mask).astype(np.float32)

    @cached_property
    def _reference_factor(self) -> np.ndarray:
        """``ref_coupling`` on reference pixels, 1 elsewhere, in readout order, float32."""
        return (1.0 + (self.model.ref_coupling - 1.0) * self._reference_readout).astype(np.float32)

    def white(self, read: int) -> np.ndarray:
        """White read noise of ``read``: ``white`` on science pixels, ``ref_white`` on reference pixels."""
        g = self.geometry
        noise = component_rng(self.seed, "white", read).standard_normal(g.shape, dtype=np.float32)
        sigma = np.where(g.reference_mask, np.float32(self.model.ref_white), np.float32(self.model.white))
        return noise * sigma

    def read(self, read: int) -> np.ndarray:
        """Bias + correlated + white noise of ``read`` (no accumulated charge), float32 image."""
        return self.bias_image + self.correlated(read) + self.white(read)
