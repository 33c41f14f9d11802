"""JWST rate and rateints arrays from a ramp's integrations, as the ``ramp_fit`` step makes them.

Pure glue over :func:`hxrg_denoiser.fitting.fit_ramp`, with no import of ``jwst``: the arrays of a
``RampModel`` (science orientation, DN) in, the rate of each integration and of the exposure (DN/s,
science orientation) out. The fit runs in electrons in readout order (:mod:`hxrg_denoiser.io.orientation`);
the gain enters only the variances, as a JWST rate is in DN/s. ``GROUPDQ``'s saturated and do-not-use
groups are not used; ``PIXELDQ`` is carried into DQ. Integrations are combined as JWST combines them: each
variance term by the inverse of the sum of its inverses, the rate weighted by the inverse total variance.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from hxrg_denoiser.dq import PixelFlag
from hxrg_denoiser.errors import RampInputError
from hxrg_denoiser.fitting import FitOptions, fit_ramp
from hxrg_denoiser.fitting.integrations import combine_integrations
from hxrg_denoiser.geometry import ReadoutGeometry, preset
from hxrg_denoiser.io.orientation import to_readout, to_science
from hxrg_denoiser.io.product import FluxImage, in_data_numbers
from hxrg_denoiser.io.ramps import ArrayRamp
from hxrg_denoiser.io.upstream_flags import FlaggedJumps, first_unusable

__all__ = ["Rates", "RampArrays", "fit_integrations", "combine_integrations", "jwst_geometry"]



@dataclass(frozen=True)
class RampArrays:
    """What the fit takes of a JWST ramp (a ``RampModel``), science orientation.

    Attributes
    ----------
    data : ndarray, shape (n_integrations, n_groups, n_y, n_x)
        DN.
    groupdq : ndarray, same shape, or None
    pixeldq : ndarray, shape (n_y, n_x), or None
    fastaxis, slowaxis : int
    group_time : float
        Seconds between groups (``TGROUP``).
    gain : ndarray, shape (n_y, n_x)
        e-/DN (the GAIN reference file).
    read_noise_cds : ndarray, shape (n_y, n_x), or None
        The READNOISE reference file: the noise of a difference of two groups' frames (CDS), DN; None:
        measured on the data.
    n_frames : int
        Frames averaged into a group (``NFRAMES``).
    n_outputs : int
        The detector's outputs read at once (``NOUTPUTS``).
    """

    data: np.ndarray
    groupdq: np.ndarray | None
    pixeldq: np.ndarray | None
    fastaxis: int
    slowaxis: int
    group_time: float
    gain: np.ndarray
    read_noise_cds: np.ndarray | None = None
    n_frames: int = 1
    n_outputs: int = 4


@dataclass(frozen=True)
class Rates:
    """The rates of each integration (``*_rateints``) and of the exposure (``*_rate``), DN/s.

    ``ints`` holds arrays of shape ``(n_integrations, n_y, n_x)`` by name (``sci``, ``err``, ``dq``,
    ``var_poisson``, ``var_rnoise``), ``rate`` the same names combined, shape ``(n_y, n_x)``;
    ``fits`` the flux images of the integrations as fitted (electrons, readout order), for provenance.
    """

    ints: dict[str, np.ndarray]
    rate: dict[str, np.ndarray]
    fits: list[FluxImage]


def jwst_geometry(shape: tuple[int, int], n_outputs: int) -> ReadoutGeometry:
    """The readout of a JWST array in readout order: the full-frame H2RG, a strip of its rows, or a subarray
    read through ``n_outputs`` outputs without reference pixels."""
    full = preset("jwst-h2rg")
    if shape[1] == full.n_cols and shape[0] <= full.n_rows and n_outputs == full.n_channels:
        return full.for_data(shape)
    if n_outputs < 1 or shape[1] % n_outputs:
        raise RampInputError(f"a {shape[0]} x {shape[1]} subarray cannot be read through {n_outputs} outputs")
    return ReadoutGeometry("jwst-subarray", shape[0], shape[1], n_outputs, ref_border=0, butterfly=full.butterfly,
                           row_overhead=full.row_overhead)


def fit_integrations(ramp: RampArrays, options: FitOptions) -> Rates:
    """Fit every integration of ``ramp`` with ``options`` (their gain, read noise, timing and units replaced);
    with ``options.groupdq_jumps``, the jumps ``GROUPDQ`` flags (JWST's ``jump`` step) are taken too.

    Raises
    ------
    RampInputError
        A reference array of another shape than the data's, one line.
    """
    n_ints, _, n_y, n_x = ramp.data.shape
    for name, array in (("GAIN", ramp.gain), ("READNOISE", ramp.read_noise_cds), ("PIXELDQ", ramp.pixeldq)):
        if array is not None and array.shape != (n_y, n_x):
            raise RampInputError(f"{name}: {' x '.join(map(str, array.shape))}, the data are {n_y} x {n_x}; give the "
                                 "reference file of the data's subarray")
    fast, slow = ramp.fastaxis, ramp.slowaxis
    gain = np.ascontiguousarray(to_readout(ramp.gain.astype(np.float32), fast, slow))
    bad_gain = ~np.isfinite(gain) | (gain <= 0)
    gain = np.where(bad_gain, np.float32(1.0), gain)
    noise = None
    if ramp.read_noise_cds is not None:
        per_read = to_readout(ramp.read_noise_cds.astype(np.float32), fast, slow) / np.sqrt(2.0 * ramp.n_frames)
        noise = np.ascontiguousarray(np.where(np.isfinite(per_read) & (per_read > 0), per_read, np.nanmedian(per_read))
                                     * gain).astype(np.float32)
    geometry = jwst_geometry(gain.shape, ramp.n_outputs)
    base = dataclasses.replace(options, gain=gain, read_noise=noise, units="e-/s", frame_time=ramp.group_time,
                               full_frame_timing=False)
    ints: dict[str, list[np.ndarray]] = {k: [] for k in ("sci", "err", "dq", "var_poisson", "var_rnoise")}
    images = []
    for i in range(n_ints):
        cube = np.ascontiguousarray(to_readout(ramp.data[i], fast, slow), dtype=np.float32)
        flagged = None if ramp.groupdq is None else first_unusable(to_readout(ramp.groupdq[i], fast, slow))
        jumps = FlaggedJumps.from_groupdq(ramp.groupdq[i], fast, slow) \
            if options.groupdq_jumps and ramp.groupdq is not None else None
        image = fit_ramp(ArrayRamp(cube, f"integration {i + 1}"), geometry,
                         dataclasses.replace(base, flagged_from=flagged, jump_flags=jumps))
        images.append(image)
        rate = in_data_numbers(image, gain)  # DN/s: the gain only in the variances
        rate = rate._replace(dq=np.where(bad_gain, rate.dq | np.uint32(PixelFlag.DO_NOT_USE), rate.dq))
        for name in ints:
            ints[name].append(np.ascontiguousarray(to_science(getattr(rate, name), fast, slow)))
    stacked = {name: np.stack(values).astype(np.uint32 if name == "dq" else np.float32) for name, values in ints.items()}
    if ramp.pixeldq is not None:
        stacked["dq"] = stacked["dq"] | ramp.pixeldq.astype(np.uint32)
    return Rates(stacked, combine_integrations(stacked), images)
