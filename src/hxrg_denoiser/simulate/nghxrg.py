"""A second dark-noise generator, following the published NGHXRG recipe (Rauscher 2015) step by step.

It is written apart from :mod:`hxrg_denoiser.simulate.noise` and shares
nothing with it but the geometry, so that a method tuned on the project's own
simulator can be judged on noise it never saw. Following the recipe:

* time runs per output over the whole cube: ``(width + nroh) x (rows + nfoh) x reads``
  samples (12 pixel times of row overhead, one row of frame overhead), so
  every 1/f noise is continuous across rows and reads;
* 1/f noise is white noise of twice that length (padded to a power of two)
  filtered in Fourier space by ``f^-1/2`` (no power at f = 0), of which the
  first half is kept (not periodic), rescaled to the white noise's RMS;
* correlated 1/f noise: one stream, added to every output, reversed on every
  other output (alternating fast-scan directions); uncorrelated 1/f noise: one
  stream per output, not reversed;
* alternating column noise: per output, two independent 1/f streams for the
  even and the odd pixels;
* picture frame: a fixed template (standing for NGHXRG's PCA-zero image:
  edge-heavy, normalised by its median and robust sigma) scaled row by row and
  read by read by a 1/f stream;
* white read noise on every pixel (reference pixels times a ratio), a
  pedestal offset per read, a constant bias pattern with kTC noise.

The correlated part (1/f, ACN, picture frame, pedestal) is returned beside
the cube, so that an oracle can remove it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
import torch

from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.stats import mad_sigma

__all__ = ["NGHXRGLevels", "NGHXRG_PRESETS", "nghxrg_template", "nghxrg_dark"]


@dataclass(frozen=True)
class NGHXRGLevels:
    """Noise levels in electrons, named as in the NGHXRG paper.

    Attributes
    ----------
    rd_noise : float
        White read noise of regular pixels.
    ref_ratio : float
        Reference pixels' white noise relative to regular pixels'.
    c_pink, u_pink : float
        Correlated and uncorrelated 1/f noise.
    acn : float
        Alternating column noise (each of the even and odd streams).
    pca0_amp : float
        Picture frame: the template (robust sigma 1) times this.
    pedestal : float
        Offset of the whole array drawn anew for each read.
    ktc, bias_offset, bias_amp : float
        Constant bias: kTC noise per pixel, offset, template times ``bias_amp``.
    """

    rd_noise: float = 5.2
    ref_ratio: float = 0.8
    c_pink: float = 3.0
    u_pink: float = 1.0
    acn: float = 0.5
    pca0_amp: float = 0.2
    pedestal: float = 4.0
    ktc: float = 29.0
    bias_offset: float = 5000.0
    bias_amp: float = 5.0


NGHXRG_PRESETS = {
    "nirspec": NGHXRGLevels(),
    "strong": NGHXRGLevels(rd_noise=6.0, ref_ratio=1.0 / 6.0, c_pink=6.0, u_pink=3.0, acn=2.0, pca0_amp=1.0),
}


def nghxrg_template(geometry: ReadoutGeometry, seed: int = 7) -> np.ndarray:
    """A PCA-zero-like picture-frame template: edges rising over different depths, gentle interior.

    Normalised as NGHXRG normalises its template: median 0, robust sigma
    (1.4826 MAD) 1; the edges are then many sigmas strong.
    """
    rng = np.random.default_rng([seed, 2015])
    rows, cols = np.arange(geometry.n_rows)[:, None], np.arange(geometry.n_cols)[None, :]
    depth = rng.uniform(6.0, 40.0, 4)
    strength = rng.uniform(10.0, 40.0, 4)
    template = (strength[0] * np.exp(-rows / depth[0]) + strength[1] * np.exp(-(geometry.n_rows - 1 - rows) / depth[1])
                + strength[2] * np.exp(-cols / depth[2]) + strength[3] * np.exp(-(geometry.n_cols - 1 - cols) / depth[3]))
    template = template + rng.uniform(-1, 1) * rows / geometry.n_rows + rng.uniform(-1, 1) * cols / geometry.n_cols
    template = template + 0.5 * np.sin(2 * np.pi * cols / rng.uniform(300, 900) + rng.uniform(0, 6))
    return (template - np.median(template)) / mad_sigma(template)


class _Streams:
    """1/f and white streams of one cube's time axis, per output (NGHXRG's ``pink_noise``)."""

    def __init__(self, n_step: int, rng: np.random.Generator) -> None:
        self.n_step = n_step
        self.padded = int(2 ** np.ceil(np.log2(n_step)))
        self.rng = rng

    def pink(self, count: int = 1, length: int | None = None) -> np.ndarray:
        """``count`` non-periodic 1/f streams of ``length`` samples (default: the cube's), RMS about 1.

        Shape ``(count, length)``, float32; drawn in small batches (one FFT call each) to bound memory.
        """
        keep = length or self.n_step
        n = 2 * int(2 ** np.ceil(np.log2(keep)))
        filt = torch.zeros(n // 2 + 1, dtype=torch.float32)
        filt[1:] = torch.from_numpy(scipy.fft.rfftfreq(n)[1:] ** -0.5)
        # torch's generator and FFT: several times numpy's and scipy's speed on these long series
        generator = torch.Generator().manual_seed(int(self.rng.integers(2**62)))
        out = np.empty((count, keep), dtype=np.float32)
        for start in range(0, count, 4):
            white = torch.randn((min(4, count - start), n), generator=generator)
            mean, std = white[:, : n // 2].double().mean(dim=1), white[:, : n // 2].double().std(dim=1)
            series = _filtered(white, filt)[:, :keep]
            del white
            scale = std / series.double().std(dim=1)
            offset = mean - scale * series.double().mean(dim=1)
            out[start : start + len(series)] = (series * scale[:, None].float() + offset[:, None].float()).numpy()
        return out


def _filtered(white: torch.Tensor, filt: torch.Tensor) -> torch.Tensor:
    """``white`` (rows of series) filtered by ``filt`` in Fourier space.

    A single long series is transformed on one thread: split over threads, torch's FFT rounds
    differently, and the same seed would give another cube on a machine with another number of cores.
    """
    threads = torch.get_num_threads()
    if len(white) == 1 and threads > 1:
        torch.set_num_threads(1)
    try:
        return torch.fft.irfft(torch.fft.rfft(white, dim=1) * filt, n=white.shape[1], dim=1)
    finally:
        torch.set_num_threads(threads)


def nghxrg_dark(
    geometry: ReadoutGeometry, n_reads: int, levels: NGHXRGLevels, seed: int, *, nroh: int = 12, nfoh: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """A dark ramp and its correlated part, both ``(n_reads, n_rows, n_cols)`` float32 electrons.

    Parameters
    ----------
    geometry : ReadoutGeometry
        Channels are NGHXRG's outputs (alternate outputs read backwards when ``butterfly``).
    n_reads : int
    levels : NGHXRGLevels
    seed : int
    nroh, nfoh : int
        Row overhead (pixel times) and frame overhead (rows), NGHXRG's clock.
    """
    g = geometry
    rng = np.random.default_rng([int(seed), 150906264])
    width, n_out = g.channel_width, g.n_channels
    n_step = (width + nroh) * (g.n_rows + nfoh) * n_reads
    streams = _Streams(n_step, rng)
    shape = (n_reads, g.n_rows, g.n_cols)

    def as_output(series: np.ndarray) -> np.ndarray:
        return series.reshape(n_reads, g.n_rows + nfoh, width + nroh)[:, : g.n_rows, :width]

    correlated = np.zeros(shape, dtype=np.float32)
    if levels.c_pink > 0:
        common = levels.c_pink * as_output(streams.pink()[0])
        for op in range(n_out):
            block = common[:, :, ::-1] if (g.butterfly and op % 2) else common
            correlated[:, :, op * width : (op + 1) * width] += block
    if levels.u_pink > 0:
        for op, series in enumerate(streams.pink(n_out)):
            correlated[:, :, op * width : (op + 1) * width] += levels.u_pink * as_output(series)
    if levels.acn > 0:
        half = (width + nroh) // 2
        pairs = streams.pink(2 * n_out, n_step // 2).reshape(n_out, 2, n_reads, g.n_rows + nfoh, half)
        for op in range(n_out):
            even = levels.acn * pairs[op, 0, :, : g.n_rows, : width // 2]
            odd = levels.acn * pairs[op, 1, :, : g.n_rows, : width // 2]
            output = correlated[:, :, op * width : (op + 1) * width]
            output[:, :, 0::2] += even
            output[:, :, 1::2] += odd
    template32 = nghxrg_template(g).astype(np.float32)
    if levels.pca0_amp > 0:
        gamma = streams.pink()[0]
        rows_total = g.n_rows * n_reads
        gamma = np.interp(np.linspace(0, gamma.size - 1, rows_total), np.arange(gamma.size), gamma)
        gamma = gamma.reshape(n_reads, g.n_rows).astype(np.float32)
        correlated += levels.pca0_amp * template32[None] * gamma[:, :, None]
    if levels.pedestal > 0:
        correlated += (levels.pedestal * rng.standard_normal(n_reads)).astype(np.float32)[:, None, None]
    bias = levels.bias_offset + levels.bias_amp * template32 + levels.ktc * rng.standard_normal(g.shape)
    sigma = np.where(g.reference_mask, levels.rd_noise * levels.ref_ratio, levels.rd_noise).astype(np.float32)
    cube = correlated + bias.astype(np.float32)[None]
    for k in range(n_reads):
        cube[k] += rng.standard_normal(g.shape, dtype=np.float32) * sigma
    return cube, correlated
