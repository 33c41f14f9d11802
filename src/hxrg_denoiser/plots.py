"""Figures a person looks at: images, readout-stream power spectra.

Plot functions take ``ax=None`` (a new figure is made) and return the artists.
Figures are :class:`matplotlib.figure.Figure` objects made without pyplot
(:func:`new_figure`), so that importing this module never changes the user's
matplotlib backend and no window is ever opened.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from hxrg_denoiser.geometry import ReadoutGeometry, channel_streams
from hxrg_denoiser.io.ramps import Ramp

__all__ = [
    "new_figure",
    "plot_image",
    "readout_power_spectrum",
    "plot_readout_power_spectrum",
    "inspect_ramp",
    "plot_error_images",
    "plot_error_histogram",
    "save_figure",
]


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float] = (6.4, 4.8),
               constrained_layout: bool = False, **subplots):
    """A figure and its axes, made without pyplot (no backend chosen, no window): ``(Figure, axes)`` as
    :func:`matplotlib.pyplot.subplots` returns them."""
    fig = Figure(figsize=figsize, layout="constrained" if constrained_layout else None)
    return fig, fig.subplots(nrows, ncols, **subplots)


def save_figure(fig, path: str | os.PathLike, *, overwrite: bool = False, dpi: int = 90) -> Path:
    """Save ``fig`` as PNG atomically (and close it, if pyplot made it)."""
    import sys

    from hxrg_denoiser.io.safety import atomic_output

    with atomic_output(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close(fig)
    return Path(path)


def plot_error_histogram(estimates: dict[str, np.ndarray], truth: np.ndarray, mask: np.ndarray, *, ax=None, limit: float):
    """Histograms of ``estimate - truth`` over ``mask`` for each method, log density."""
    if ax is None:
        _, ax = new_figure(figsize=(8, 4))
    bins = np.linspace(-1.5 * limit, 1.5 * limit, 121)
    artists = []
    for name, estimate in estimates.items():
        artists.append(ax.hist((estimate - truth)[mask], bins=bins, histtype="step", label=name, density=True)[2])
    ax.set_xlabel("estimate - truth (e- over the ramp)")
    ax.set_ylabel("pixel density")
    ax.set_yscale("log")
    ax.legend(ncol=min(len(estimates), 4), fontsize="small")
    return artists


def plot_error_images(estimates: dict[str, np.ndarray], truth: np.ndarray, mask: np.ndarray, *, title: str = ""):
    """Figure: the true scene, each method's error image on a common scale, and the error histograms."""
    names = list(estimates)
    fig, axes = new_figure(len(names) + 2, 1, figsize=(11, 2.2 * (len(names) + 2)), constrained_layout=True)
    plot_image(truth, ax=axes[0], title=f"{title} true scene".strip(), units="e-")
    reference = estimates.get("oracle", estimates[names[-1]])
    limit = 3 * np.nanstd((reference - truth)[mask])
    for ax, name in zip(axes[1:], names):
        error = np.where(mask, estimates[name] - truth, np.nan)
        artist = ax.imshow(error, origin="lower", cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto",
                           interpolation="nearest")
        fig.colorbar(artist, ax=ax, label="e-")
        ax.set_title(f"{name}: estimate - truth")
        ax.set_ylabel("row")
    axes[-2].set_xlabel("column (pixels)")
    plot_error_histogram(estimates, truth, mask, ax=axes[-1], limit=limit)
    return fig


def plot_image(image: np.ndarray, *, ax=None, title: str = "", units: str = "e-", percentiles=(1, 99)):
    """Show an image with a robust colour stretch and a labelled colour bar."""
    if ax is None:
        _, ax = new_figure(figsize=(6, 5))
    finite = image[np.isfinite(image)]
    vmin, vmax = np.percentile(finite, percentiles) if finite.size else (0, 1)
    artist = ax.imshow(image, origin="lower", cmap="viridis", vmin=vmin, vmax=vmax, interpolation="nearest", aspect="auto")
    ax.figure.colorbar(artist, ax=ax, label=units)
    ax.set_xlabel("column (pixels)")
    ax.set_ylabel("row (pixels)")
    ax.set_title(title)
    return artist


def readout_power_spectrum(image: np.ndarray, geometry: ReadoutGeometry) -> dict[str, np.ndarray]:
    """Power spectra of an image read as time streams, one per channel.

    Each channel's pixels are put in readout-time order (row by row) and the
    periodogram is averaged over channels (``per_channel``); the channel mean
    at each instant gives the spectrum of the common-mode stream
    (``common``). Reference columns and rows are kept: they are part of the
    stream. Frequencies are in Hz with the mean sampling rate of the pixels
    (row overheads stretch time).

    Parameters
    ----------
    image : ndarray, shape (n_rows, n_cols)
        A read difference (bias removed), electrons.

    Returns
    -------
    dict with ``frequency`` (Hz), ``per_channel`` and ``common`` (e-^2 / Hz).
    """
    readout = geometry.to_readout_order(image.astype(np.float64))  # (rows, channels, width)
    streams = channel_streams(readout).reshape(geometry.n_channels, -1)
    streams = streams - streams.mean(axis=1, keepdims=True)
    dt = geometry.row_time / geometry.channel_width
    n = streams.shape[1]
    frequency = np.fft.rfftfreq(n, dt)[1:]
    power = np.abs(np.fft.rfft(streams, axis=1)[:, 1:]) ** 2 * (2 * dt / n)
    common = np.abs(np.fft.rfft(streams.mean(axis=0))[1:]) ** 2 * (2 * dt / n)
    return {"frequency": frequency, "per_channel": power.mean(axis=0), "common": common}


def _log_binned(frequency: np.ndarray, power: np.ndarray, n_bins: int = 60) -> tuple[np.ndarray, np.ndarray]:
    edges = np.logspace(np.log10(frequency[0]), np.log10(frequency[-1]) + 1e-9, n_bins + 1)
    index = np.digitize(frequency, edges) - 1
    keep = [i for i in range(n_bins) if np.any(index == i)]
    return (
        np.array([frequency[index == i].mean() for i in keep]),
        np.array([power[index == i].mean() for i in keep]),
    )


def plot_readout_power_spectrum(spectrum: dict[str, np.ndarray], *, ax=None, title: str = ""):
    """Log-log plot of :func:`readout_power_spectrum` with a 1/f reference line."""
    if ax is None:
        _, ax = new_figure(figsize=(6, 4.5))
    f = spectrum["frequency"]
    lines = []
    for key, label in (("per_channel", "single channel (mean over channels)"), ("common", "mean of all channels")):
        fb, pb = _log_binned(f, spectrum[key])
        lines += ax.loglog(fb, pb, label=label)
    fb, pb = _log_binned(f, spectrum["per_channel"])
    reference = pb[len(pb) // 4] * fb[len(fb) // 4] / fb
    lines += ax.loglog(fb, reference, "k--", lw=0.8, label="1/f")
    ax.set_xlabel("frequency along readout time (Hz)")
    ax.set_ylabel("power spectral density (e$^2$ / Hz)")
    ax.set_title(title)
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    return lines


def _read_pair(ramp: Ramp, reads: tuple[int, int], strip_rows: int = 128) -> np.ndarray:
    """``read[b] - read[a]`` over the whole image, band by band."""
    a, b = reads
    out = np.empty((ramp.n_rows, ramp.n_cols), dtype=np.float32)
    for start in range(0, ramp.n_rows, strip_rows):
        stop = min(ramp.n_rows, start + strip_rows)
        band = ramp.read_rows(start, stop)
        out[start:stop] = band[b] - band[a]
    return out


INSPECT_FIGURES = ("read.png", "cds.png", "power_spectrum.png")


def inspect_ramp(ramp: Ramp, geometry: ReadoutGeometry, outdir: str | os.PathLike, *, overwrite: bool = False) -> list[Path]:
    """Write ``read.png`` (read 1 - read 0), ``cds.png`` and ``power_spectrum.png`` of a ramp into ``outdir``."""
    from hxrg_denoiser.io.safety import OutputFolder, atomic_output

    folder = OutputFolder(outdir, inputs=[ramp.path], overwrite=overwrite)
    folder.claim(INSPECT_FIGURES)
    outdir = folder.path
    name = Path(ramp.path).name
    first_difference = _read_pair(ramp, (0, 1))
    cds = _read_pair(ramp, (0, ramp.n_reads - 1))
    figures = {
        "read.png": lambda ax: plot_image(first_difference, ax=ax, title=f"{name}: read 1 - read 0"),
        "cds.png": lambda ax: plot_image(cds, ax=ax, title=f"{name}: CDS (read {ramp.n_reads - 1} - read 0)"),
        "power_spectrum.png": lambda ax: plot_readout_power_spectrum(
            readout_power_spectrum(first_difference, geometry), ax=ax, title=f"{name}: readout stream, read 1 - read 0"
        ),
    }
    written = []
    for filename, draw in figures.items():
        fig, ax = new_figure(figsize=(7, 5.5))
        draw(ax)
        fig.tight_layout()
        with atomic_output(outdir / filename, overwrite=True) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
        written.append(outdir / filename)
    return written
