"""Readout geometry of an HxRG detector.

A :class:`ReadoutGeometry` says how an image of ``n_rows x n_cols`` pixels is
split into output channels, which channels are read in reverse (butterfly),
where the reference pixels are and how long a pixel, a row and a frame take.
It provides the exact mapping between the *image layout* ``(..., rows, cols)``
and the *readout-time layout* ``(..., rows, channels, position)`` in which
pixel ``position`` of every channel of a row was sampled at the same instant.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from hxrg_denoiser.errors import GeometryError

__all__ = ["ReadoutGeometry", "PRESETS", "preset", "geometry_for_shape", "channel_streams", "rows_first"]


@dataclass(frozen=True)
class ReadoutGeometry:
    """How an HxRG array is read out.

    Parameters
    ----------
    name : str
        Label stored in output headers and model files.
    n_rows, n_cols : int
        Array size in pixels (rows are the slow axis, columns the fast axis).
    n_channels : int
        Number of output channels (amplifiers); each covers
        ``n_cols // n_channels`` adjacent columns.
    ref_border : int
        Width in pixels of the reference-pixel border on each of the four
        edges (4 on Teledyne HxRG arrays). ``0`` means no reference pixels.
    butterfly : bool
        If true, odd channels (1, 3, ...) are read from high to low column.
    pixel_time : float
        Time to read one pixel, in seconds.
    row_overhead : int
        Extra pixel times spent at the end of every row.
    frame_overhead : float
        Extra time per frame, in seconds (reset, line sync).
    ref_top_bottom : bool
        If false, only the side reference columns exist (some strip readouts).
    """

    name: str
    n_rows: int
    n_cols: int
    n_channels: int
    ref_border: int = 4
    butterfly: bool = True
    pixel_time: float = 1.0e-5
    row_overhead: int = 8
    frame_overhead: float = 0.0
    ref_top_bottom: bool = True

    def __post_init__(self) -> None:
        for field in ("n_rows", "n_cols", "n_channels"):
            value = getattr(self, field)
            if not isinstance(value, (int, np.integer)) or value <= 0:
                raise GeometryError(f"geometry {self.name!r}: {field} must be a positive integer, got {value!r}")
        if self.n_cols % self.n_channels:
            raise GeometryError(
                f"geometry {self.name!r}: {self.n_cols} columns do not divide into {self.n_channels} channels"
            )
        if self.ref_border < 0 or 2 * self.ref_border >= min(self.n_rows, self.n_cols):
            raise GeometryError(
                f"geometry {self.name!r}: reference border {self.ref_border} leaves no science pixels "
                f"in a {self.n_rows} x {self.n_cols} array"
            )
        if self.ref_border > self.channel_width:
            raise GeometryError(
                f"geometry {self.name!r}: reference border {self.ref_border} is wider than a channel "
                f"({self.channel_width} columns)"
            )
        if self.pixel_time <= 0:
            raise GeometryError(f"geometry {self.name!r}: pixel_time must be > 0, got {self.pixel_time}")

    # ------------------------------------------------------------------ sizes
    @property
    def shape(self) -> tuple[int, int]:
        """Image shape ``(n_rows, n_cols)``."""
        return (self.n_rows, self.n_cols)

    @property
    def channel_width(self) -> int:
        """Number of columns per output channel."""
        return self.n_cols // self.n_channels

    @property
    def row_time(self) -> float:
        """Time to read one row of every channel, in seconds."""
        return (self.channel_width + self.row_overhead) * self.pixel_time

    @property
    def frame_time(self) -> float:
        """Time to read one full frame (one read), in seconds."""
        return self.n_rows * self.row_time + self.frame_overhead

    def channel_reversed(self, channel: int) -> bool:
        """Whether ``channel`` is read from high to low column."""
        return self.butterfly and channel % 2 == 1

    # ----------------------------------------------------- reference pixels
    @cached_property
    def reference_mask(self) -> np.ndarray:
        """Boolean image, shape ``(n_rows, n_cols)``, true on reference pixels."""
        mask = np.zeros(self.shape, dtype=bool)
        b = self.ref_border
        if b:
            mask[:, :b] = True
            mask[:, -b:] = True
            if self.ref_top_bottom:
                mask[:b, :] = True
                mask[-b:, :] = True
        return mask

    @property
    def science_rows(self) -> slice:
        """Rows that hold science pixels."""
        b = self.ref_border if self.ref_top_bottom else 0
        return slice(b, self.n_rows - b)

    @property
    def science_cols(self) -> slice:
        """Columns that hold science pixels."""
        return slice(self.ref_border, self.n_cols - self.ref_border)

    @property
    def side_reference_cols(self) -> np.ndarray:
        """Indices of the left and right reference columns."""
        b = self.ref_border
        return np.r_[0:b, self.n_cols - b : self.n_cols]

    # ------------------------------------------------------- readout order
    def to_readout_order(self, image: np.ndarray) -> np.ndarray:
        """Rearrange ``(..., n_cols)`` into ``(..., n_channels, channel_width)`` in readout-time order.

        Element ``[..., c, x0]`` is the pixel channel ``c`` read at step ``x0``
        of its row; reversed channels are flipped so that every channel's
        step ``x0`` happened at the same time.
        """
        self._check_columns(image)
        readout = image.reshape(image.shape[:-1] + (self.n_channels, self.channel_width)).copy()
        reversed_channels = self._reversed_channels
        if reversed_channels.size:
            readout[..., reversed_channels, :] = readout[..., reversed_channels, ::-1]
        return readout

    def to_image_order(self, readout: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_readout_order`: ``(..., n_channels, channel_width)`` to ``(..., n_cols)``."""
        if readout.shape[-2:] != (self.n_channels, self.channel_width):
            raise GeometryError(
                f"geometry {self.name!r}: readout array ends in {readout.shape[-2:]}, "
                f"expected ({self.n_channels}, {self.channel_width})"
            )
        image = readout.copy()
        reversed_channels = self._reversed_channels
        if reversed_channels.size:
            image[..., reversed_channels, :] = image[..., reversed_channels, ::-1]
        return image.reshape(readout.shape[:-2] + (self.n_cols,))

    @cached_property
    def _reversed_channels(self) -> np.ndarray:
        return np.array([c for c in range(self.n_channels) if self.channel_reversed(c)], dtype=int)

    def _check_columns(self, image: np.ndarray) -> None:
        if image.shape[-1] != self.n_cols:
            raise GeometryError(
                f"geometry {self.name!r}: array has {image.shape[-1]} columns, expected {self.n_cols}"
            )

    # -------------------------------------------------------- conversions
    def with_rows(self, n_rows: int) -> ReadoutGeometry:
        """The same readout on an array of ``n_rows`` rows (e.g. a strip of an H4RG)."""
        return dataclasses.replace(self, n_rows=n_rows)

    def for_data(self, shape: tuple[int, int], source: str = "input") -> ReadoutGeometry:
        """This geometry for reads of ``shape``: itself, or a strip of it (fewer rows, every column).

        Raises
        ------
        GeometryError
            If the reads have other columns or more rows, naming ``source``.
        """
        n_rows, n_cols = shape
        if (n_rows, n_cols) == self.shape:
            return self
        if n_cols != self.n_cols or n_rows > self.n_rows:
            raise GeometryError(
                f"{source}: reads are {n_rows} x {n_cols} but geometry {self.name!r} is "
                f"{self.n_rows} x {self.n_cols} (a strip must keep all {self.n_cols} columns)"
            )
        try:
            return self.with_rows(n_rows)
        except GeometryError as err:
            raise GeometryError(f"{source}: {err}") from None

    def to_dict(self) -> dict:
        """Plain dictionary for JSON files and FITS headers."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> ReadoutGeometry:
        """Rebuild a geometry written by :meth:`to_dict`."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise GeometryError(f"unknown geometry fields: {sorted(unknown)}")
        return cls(**data)


PRESETS: dict[str, ReadoutGeometry] = {
    # NIRPS / SPIRou H4RG: 32 channels of 128 columns, 5.57 s frames.
    "nirps-h4rg": ReadoutGeometry("nirps-h4rg", 4096, 4096, 32, row_overhead=8),
    # Euclid NISP-like H2RG: 32 channels of 64 columns.
    "h2rg-32": ReadoutGeometry("h2rg-32", 2048, 2048, 32, row_overhead=7),
    # JWST H2RG: 4 channels of 512 columns, 10.74 s frames.
    "jwst-h2rg": ReadoutGeometry("jwst-h2rg", 2048, 2048, 4, row_overhead=12),
}


def preset(name: str, *, n_rows: int | None = None) -> ReadoutGeometry:
    """Return the preset geometry ``name``, optionally as a strip of ``n_rows`` rows.

    Raises
    ------
    GeometryError
        If ``name`` is not a preset.
    """
    try:
        geometry = PRESETS[name]
    except KeyError:
        raise GeometryError(f"unknown geometry preset {name!r}; choose one of {sorted(PRESETS)}") from None
    return geometry if n_rows is None else geometry.with_rows(n_rows)


def geometry_for_shape(
    shape: tuple[int, int],
    *,
    name: str | None = None,
    n_channels: int | None = None,
    butterfly: bool = True,
    ref_border: int = 4,
    source: str = "input",
    recorded: str | None = None,
) -> ReadoutGeometry:
    """Geometry for an image of ``shape``, from a preset or a channel count.

    A preset matches when its column count equals the image's; a smaller row
    count is accepted as a strip of the preset. Without a preset, a custom
    geometry of ``n_channels`` channels is built over the image size.

    Parameters
    ----------
    shape : tuple of int
        ``(n_rows, n_cols)`` of one read.
    name : str, optional
        Preset name.
    n_channels : int, optional
        Channel count for a custom geometry (used when ``name`` is None).
    butterfly, ref_border : optional
        Custom-geometry options.
    source : str
        File name used in error messages.
    recorded : str, optional
        The preset a file names in its header (``GEOMETRY``, as ``hxrg simulate`` writes it): used when
        neither ``name`` nor ``n_channels`` is given and the reads fit it (all its columns, no more rows).
    """
    n_rows, n_cols = shape
    if name is not None:
        geometry = preset(name)
        if n_channels is not None and n_channels != geometry.n_channels:
            raise GeometryError(f"{source}: --channels {n_channels} contradicts geometry {name!r}")
        return geometry.for_data(shape, source)
    if n_channels is None:
        if recorded in PRESETS and PRESETS[recorded].n_cols == n_cols and n_rows <= PRESETS[recorded].n_rows:
            return PRESETS[recorded].for_data(shape, source)  # the file says which detector it comes from
        matches = [g for g in PRESETS.values() if g.shape == (n_rows, n_cols)]
        if len(matches) != 1:
            raise GeometryError(
                f"{source}: no single preset matches {n_rows} x {n_cols} reads; give a geometry preset "
                f"or the number of output channels"
            )
        return matches[0]
    try:
        return ReadoutGeometry(
            f"custom-{n_rows}x{n_cols}-{n_channels}ch",
            n_rows,
            n_cols,
            n_channels,
            ref_border=ref_border,
            butterfly=butterfly,
        )
    except GeometryError as err:
        raise GeometryError(f"{source}: {err}") from None


def channel_streams(readout: np.ndarray) -> np.ndarray:
    """Readout order by row, ``(rows, n_channels, width)``, as one stream per channel, ``(n_channels, rows, width)``.

    Row ``y`` of stream ``c`` is what channel ``c`` read during row ``y``: the
    layout for work along each channel's readout time (``reshape(n_channels, -1)``
    gives the channel's pixels in the order it read them). A view, not a copy.
    """
    return readout.swapaxes(0, 1)


def rows_first(streams: np.ndarray) -> np.ndarray:
    """Inverse of :func:`channel_streams`: ``(n_channels, rows, width)`` to ``(rows, n_channels, width)`` (a view)."""
    return streams.swapaxes(0, 1)
