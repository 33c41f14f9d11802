"""Row-strip streaming of ramps with reference correction.

A full H4RG ramp of 100 reads is 6.7 GB as float32; it is never held whole.
:class:`StripStream` reads bands of rows (with the halo the reference
correction needs), checks them, converts them to electrons, applies the
reference correction and hands out the corrected core rows of each strip.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from hxrg_denoiser.classical.corrections import ReferenceCorrection, reference_correction
from hxrg_denoiser.classical.linearity import corrected_reset_level, first_over_limit, linearize
from hxrg_denoiser.classical.plateau import band_read_noise, plateau_start
from hxrg_denoiser.classical.sirs import SirsCalibration
from hxrg_denoiser.errors import GeometryError, RampInputError
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.darks import Dark
from hxrg_denoiser.io.linearity import Linearity
from hxrg_denoiser.io.ramps import Ramp
from hxrg_denoiser.io.upstream_flags import FlaggedJumps
from hxrg_denoiser.stats import all_finite, first_true

__all__ = ["Strip", "StripData", "halo_strip", "plan_strips", "row_ranges", "StripStream", "loaded_ahead", "MARGIN"]


@dataclass(frozen=True)
class Strip:
    """Rows ``start:stop`` of the image, read as ``halo_start:halo_stop``."""

    start: int
    stop: int
    halo_start: int
    halo_stop: int

    @property
    def core(self) -> slice:
        """The core rows within the halo band."""
        return slice(self.start - self.halo_start, self.stop - self.halo_start)


@dataclass
class StripData:
    """One corrected strip.

    Attributes
    ----------
    strip : Strip
    electrons : ndarray, shape (n_reads, rows, n_cols), float32
        Reads in electrons after reference correction.
    first_saturated : ndarray, shape (rows, n_cols), int
        Index of the first read at or above saturation (``n_reads`` if none).
    non_finite : ndarray, shape (rows, n_cols), bool
        Pixels with a non-finite value in any read (only with ``flag_non_finite``).
    outer : ndarray, shape (n_reads, rows + up to 2 * MARGIN, n_cols), float32
        The same with up to :data:`MARGIN` rows more on each side (within the image), corrected exactly as
        in their own strip: for tests that look at a pixel's neighbours (cosmic-ray jumps), so that results
        do not depend on where strips end. ``electrons`` is ``outer[:, inner]``.
    outer_first_saturated : ndarray, shape (outer rows, n_cols), int
    inner : slice
        The strip's rows within ``outer``.
    outer_jumps : (ndarray, ndarray), optional
        The read differences of ``outer`` flagged as jumps upstream: flat pixel indices into its rows and the
        differences (:meth:`~hxrg_denoiser.io.upstream_flags.FlaggedJumps.in_rows`), where the stream has such
        flags.
    reference_offsets : ndarray, shape (n_reads, outer rows, n_channels, 2), float32, optional
        What the reference correction subtracted from each read of ``outer`` beyond each pixel's read 0, per
        row, channel and parity of column (:meth:`~hxrg_denoiser.classical.corrections.ReferenceCorrection.apply_with_offsets`),
        where the stream keeps them (``keep_offsets``).
    """

    strip: Strip
    electrons: np.ndarray
    first_saturated: np.ndarray
    non_finite: np.ndarray
    outer: np.ndarray
    outer_first_saturated: np.ndarray
    inner: slice
    reference_offsets: np.ndarray | None = None
    outer_jumps: tuple[np.ndarray, np.ndarray] | None = None


MARGIN = 1  # rows beyond a strip's own that it also corrects (StripData.outer)


def halo_strip(start: int, stop: int, n_rows: int, before: int = 0, after: int = 0) -> Strip:
    """Rows ``start:stop`` with up to ``before`` rows above and ``after`` below, within ``0:n_rows``."""
    return Strip(start, stop, max(0, start - before), min(n_rows, stop + after))


def plan_strips(n_rows: int, strip_rows: int, before: int = 0, after: int = 0) -> list[Strip]:
    """Cut ``n_rows`` rows into strips of ``strip_rows`` with a halo of ``before``/``after`` rows."""
    if strip_rows < 1:
        raise ValueError(f"strip_rows must be >= 1, got {strip_rows}")
    return [halo_strip(y0, min(y0 + strip_rows, n_rows), n_rows, before, after) for y0 in range(0, n_rows, strip_rows)]


def row_ranges(n_rows: int, n_parts: int, strip_rows: int) -> list[tuple[int, int]]:
    """Split ``n_rows`` into about ``n_parts`` ranges whose edges fall on strip boundaries."""
    n_strips = -(-n_rows // strip_rows)
    edges = np.unique(np.linspace(0, n_strips, min(n_parts, n_strips) + 1).round().astype(int)) * strip_rows
    edges[-1] = n_rows
    return [(int(a), int(min(b, n_rows))) for a, b in zip(edges[:-1], edges[1:])]


class StripStream:
    """Iterate over corrected strips of a ramp.

    Parameters
    ----------
    ramp : Ramp
    geometry : ReadoutGeometry
        Must match the ramp's read shape.
    refcorr : str or ReferenceCorrection
        ``none``, ``seed``, ``smoothed``, ``sirs`` (with ``calibration``), or the correction itself
        (:mod:`hxrg_denoiser.classical.corrections`).
    gain : float or ndarray
        Electrons per input unit.
    strip_rows : int
        Core rows per strip.
    saturation : float or ndarray, optional
        Input level (before gain) at and above which a read is saturated: one value, or a map of the
        whole image, shape ``(n_rows, n_cols)``. Without it, the reads on a plateau at the top of a pixel's
        ramp count as saturated (:mod:`hxrg_denoiser.classical.plateau`).
    flag_non_finite : bool
        Flag science pixels with NaN/inf values instead of refusing the ramp.
    calibration : SirsCalibration, optional
        Required by ``refcorr="sirs"``: its correction of every read, row and
        channel is computed from the reference pixels in one pass over the
        ramp before the strips are handed out.
    dark : Dark, optional
        Subtracted from the reads (input units, read by read) after the saturation check and before the
        gain and the reference correction (:mod:`hxrg_denoiser.io.darks`).
    flagged_from : ndarray, shape (n_rows, n_cols), int, optional
        Each pixel's first read (of ``ramp``) flagged not to use upstream; from it on, reads count as saturated.
    flagged_jumps : FlaggedJumps, optional
        Read differences (of ``ramp``) flagged as jumps upstream, handed out with each strip
        (``StripData.outer_jumps``).
    linearity : Linearity, optional
        Applied to the raw reads after the saturation check and before the dark (JWST's order); a read past
        its validity limit counts as saturated (:mod:`hxrg_denoiser.io.linearity`).
    """

    def __init__(
        self,
        ramp: Ramp,
        geometry: ReadoutGeometry,
        *,
        refcorr: str | ReferenceCorrection = "none",
        gain: float | np.ndarray = 1.0,
        strip_rows: int = 128,
        saturation: float | np.ndarray | None = None,
        flag_non_finite: bool = False,
        calibration: SirsCalibration | None = None,
        dark: Dark | None = None,
        linearity: Linearity | None = None,
        flagged_from: np.ndarray | None = None,
        flagged_jumps: FlaggedJumps | None = None,
    ) -> None:
        if (ramp.n_rows, ramp.n_cols) != geometry.shape:
            raise GeometryError(
                f"{ramp.path}: reads are {ramp.n_rows} x {ramp.n_cols} but geometry {geometry.name!r} "
                f"is {geometry.n_rows} x {geometry.n_cols}"
            )
        if not np.all(np.asarray(gain) > 0):
            raise ValueError("gain must be > 0 electrons per unit")
        self.ramp = ramp
        self.geometry = geometry
        self.gain: float | np.ndarray = float(gain) if np.ndim(gain) == 0 else np.asarray(gain, dtype=np.float32)
        self.saturation = saturation
        self.flag_non_finite = flag_non_finite
        self.dark = dark
        self.linearity = linearity
        self.flagged_from = flagged_from
        self.flagged_jumps = flagged_jumps
        self.keep_offsets = False  # set to hand out each strip's reference offsets (StripData.reference_offsets)
        correction = reference_correction(refcorr, calibration)
        before, after = correction.window  # row y's correction uses rows y - before .. y + after - 1
        self.halo = (before + MARGIN, after + MARGIN)
        self.strips = plan_strips(geometry.n_rows, strip_rows, *self.halo)
        self.correction = correction.prepared(ramp, geometry, self._read_electrons, self.gain)

    @property
    def refcorr(self) -> str:
        """The name of the reference correction."""
        return self.correction.name

    def _read_electrons(self, start: int, stop: int) -> np.ndarray:
        raw = self.ramp.read_rows(start, stop)
        self._check_finite(raw, start, reference_only=True)
        if self.linearity is not None:
            self._linearize(raw, start)
        if self.dark is not None:
            raw -= self.dark.rows(start, stop)
        raw *= self._gain_of_rows(start, stop)
        return raw

    def _gain_of_rows(self, start: int, stop: int) -> np.float32 | np.ndarray:
        """The gain of rows ``start:stop``: the one value, or those rows of the map."""
        if isinstance(self.gain, np.ndarray):
            return self.gain[start:stop]
        return np.float32(self.gain)

    def band(self, start: int, stop: int) -> Strip:
        """A strip of rows ``start:stop`` with the halo the correction needs."""
        return halo_strip(start, stop, self.geometry.n_rows, *self.halo)

    def __len__(self) -> int:
        return len(self.strips)

    def __iter__(self) -> Iterator[StripData]:
        for strip in self.strips:
            yield self.load(strip)

    def load(self, strip: Strip) -> StripData:
        """Read, check, convert and correct one strip."""
        raw = self.ramp.read_rows(strip.halo_start, strip.halo_stop)
        non_finite = self._check_finite(raw, strip.halo_start, reference_only=False)
        outer = self._outer(strip)
        first_saturated = self._first_saturated(raw[:, outer], outer.start + strip.halo_start)
        if non_finite is not None:
            raw[~np.isfinite(raw)] = 0.0
            non_finite = non_finite[strip.core]
        else:
            non_finite = np.zeros((strip.stop - strip.start, raw.shape[2]), dtype=bool)
        if self.linearity is not None:
            over = self._linearize(raw, strip.halo_start)
            if over is not None:
                first_saturated = np.minimum(first_saturated, over[outer])
        if self.dark is not None:
            raw -= self.dark.rows(strip.halo_start, strip.halo_stop)
        electrons, offsets = self.correct_with_offsets(raw, strip, outer)
        inner = slice(strip.core.start - outer.start, strip.core.stop - outer.start)
        jumps = None if self.flagged_jumps is None else self.flagged_jumps.in_rows(
            strip.halo_start + outer.start, strip.halo_start + outer.stop, raw.shape[2], raw.shape[0] - 1)
        return StripData(strip, electrons[:, inner], first_saturated[inner], non_finite, electrons, first_saturated,
                         inner, offsets if self.keep_offsets else None, jumps)

    def _linearize(self, raw: np.ndarray, row_start: int) -> np.ndarray | None:
        """Correct raw reads of rows ``row_start:`` for non-linearity (in place); each pixel's first read past
        the correction's limit (None without a limit)."""
        assert self.linearity is not None
        coefficients, correct, limit = self.linearity.band(row_start, row_start + raw.shape[1])
        level = corrected_reset_level(raw, self.linearity.first_read, coefficients, correct)
        over = None if limit is None else first_over_limit(raw, level, limit)
        linearize(raw, coefficients, level, correct)
        return over

    def _outer(self, strip: Strip) -> slice:
        """The strip's rows and up to :data:`MARGIN` more on each side, within its halo band."""
        core = strip.core
        return slice(max(0, core.start - MARGIN), min(strip.halo_stop - strip.halo_start, core.stop + MARGIN))

    def correct(self, raw: np.ndarray, strip: Strip, rows: slice | None = None) -> np.ndarray:
        """Convert rows ``strip.halo_start:halo_stop`` of raw reads to electrons and correct them (in place).

        Returns the rows ``rows`` of the band (default: the core rows), shape ``(n_reads, rows, n_cols)``.
        """
        return self.correct_with_offsets(raw, strip, rows)[0]

    def correct_with_offsets(self, raw: np.ndarray, strip: Strip,
                             rows: slice | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`correct`, and the offsets the correction subtracted from those rows
        (:meth:`~hxrg_denoiser.classical.corrections.ReferenceCorrection.apply_with_offsets`)."""
        rows = strip.core if rows is None else rows
        raw *= self._gain_of_rows(strip.halo_start, strip.halo_stop)
        return self.correction.apply_with_offsets(raw, self.geometry, row_start=strip.halo_start, rows=rows)

    def _first_saturated(self, rows_raw: np.ndarray, first_row: int) -> np.ndarray:
        """Each pixel's first read at or above saturation of raw rows starting at image row ``first_row``."""
        n_reads = rows_raw.shape[0]
        if self.saturation is None:
            first = plateau_start(rows_raw, band_read_noise(rows_raw))
        else:
            level = self.saturation
            if isinstance(level, np.ndarray):
                level = level[first_row : first_row + rows_raw.shape[1]]
            first = first_true(rows_raw >= level)
        if self.flagged_from is not None:
            flagged = self.flagged_from[first_row : first_row + rows_raw.shape[1]]
            first = np.minimum(first, np.clip(flagged, 0, n_reads).astype(np.int32))
        return first

    def _check_finite(self, raw: np.ndarray, row_start: int, reference_only: bool) -> np.ndarray | None:
        """Raise on non-finite values, or return the per-pixel mask of them when they may be flagged."""
        if all_finite(raw):
            return None
        bad_reads = ~np.isfinite(raw)
        ref = self.geometry.reference_mask[row_start : row_start + raw.shape[1]]
        in_reference = bad_reads & ref
        if self.flag_non_finite and not in_reference.any():
            return bad_reads.any(axis=0)
        k, y, x = np.argwhere(in_reference if in_reference.any() else bad_reads)[0]
        where = "reference pixel" if ref[y, x] else "pixel"
        hint = "" if ref[y, x] or reference_only else "; use --flag-non-finite to flag such pixels instead"
        raise RampInputError(
            f"{self.ramp.read_source(int(k))}: non-finite value (NaN, inf or BLANK) at {where} "
            f"row {row_start + int(y)}, column {int(x)}{hint}"
        )


def loaded_ahead(stream: StripStream, strips: Sequence[Strip]) -> Iterator[StripData]:
    """:meth:`StripStream.load` of each of ``strips`` in turn, the next one read while the caller works on this one.

    Reading, converting and correcting a strip (file reads and numpy, which release the GIL) then overlap
    the caller's work on the previous one: two strips are in memory at a time if the caller lets go of each
    (``del``) before asking for the next. Errors of a load are raised
    when its strip is asked for, as without the second thread.
    """
    if not strips:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hxrg-strip-reader") as reader:
        pending = reader.submit(stream.load, strips[0])
        for following in list(strips[1:]) + [None]:
            data = pending.result()
            if following is not None:
                pending = reader.submit(stream.load, following)
            yield data
