"""The :class:`Denoiser` interface: one implementation per kind of model input, chosen from the model itself.

A trained network declares what it takes (``input_kind`` of its class in
:mod:`hxrg_denoiser.models`): ``flux-image`` networks take a
reference-corrected up-the-ramp image, ``ribbons`` networks take the reads.
:func:`make_denoiser` wraps a model in the matching :class:`Denoiser`, so
that nothing outside the model package tests an architecture's name.
"""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from hxrg_denoiser.classical.ipc import IpcKernel
from hxrg_denoiser.classical.jumps import CLUSTER_THRESHOLD as DEFAULT_CLUSTER_THRESHOLD
from hxrg_denoiser.classical.jumps import DEFAULT_THRESHOLD as DEFAULT_JUMP_THRESHOLD
from hxrg_denoiser.dq import PixelFlag
from hxrg_denoiser.errors import GeometryError, UnavailableError, UsageError
from hxrg_denoiser.fitting import fit_ramp
from hxrg_denoiser.geometry import PRESETS, ReadoutGeometry, geometry_for_shape
from hxrg_denoiser.io.maps import PixelMap
from hxrg_denoiser.io.product import FluxImage
from hxrg_denoiser.io.ramps import Ramp
from hxrg_denoiser.io.upstream_flags import with_upstream_flags
from hxrg_denoiser.models.registry import ModelSpec, load_model

__all__ = [
    "DenoiseSettings", "Denoiser", "make_denoiser", "load_denoiser", "pick_device", "check_model_geometry",
    "model_geometry", "flag_model_failures", "readout_layout", "served_layouts", "served_layout_name", "describe_layout",
]


@dataclass(frozen=True)
class DenoiseSettings:
    """How a denoiser runs; none of these changes the result but ``calibration``, ``reference_check``,
    ``keep_background`` and what selects the fit (jumps, maps, dark, reads).

    Attributes
    ----------
    strip_rows : int
        Rows read at a time.
    batch_rows : int or None
        Ribbon networks: rows per network call (default 16); refused by flux-image networks.
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    precision : {"fp32", "bf16"}
    flag_non_finite : bool
        Flag science pixels with NaN/inf/BLANK input values instead of refusing the ramp.
    calibration : str, path or SirsCalibration, optional
        Flux-image networks: the detector's calibration (the image is then ``sirs``-corrected).
    reference_check : bool
        Flux-image networks: give the network the image fitted without reference
        correction when the correction adds structure to the dark pixels.
    jump_threshold : float or None
        Flux-image networks: cosmic-ray jumps of the up-the-ramp fit they take (sigmas; None: no detection).
    jump_neighbours : bool
        Flux-image networks: also flag the neighbours of every jump.
    jump_cluster_threshold : float or None
        Flux-image networks: sigmas above which the 8 neighbours of a jump are flagged at its difference.
    jump_step : bool
        Flux-image networks: their fit also tests each ramp for one step on all its reads.
    saturation : float, path, ndarray or None
        Flux-image networks: input level (ADU) at and above which a read is saturated, or a per-pixel map;
        the fit they take uses only the reads before it.
    gain : float, path, ndarray or None
        Flux-image networks: electrons per input unit, one value or a per-pixel map (None: values as they
        are; see ``FitOptions.gain``).
    dark : path or None
        Flux-image networks: a dark ramp or dark-rate image subtracted from the reads before their fit
        (``FitOptions.dark``).
    linearity : path or None
        Flux-image networks: a non-linearity correction applied to the reads before their fit
        (``FitOptions.linearity``).
    ipc : IpcKernel or None
        Flux-image networks: the detector's interpixel capacitance, which their fit's ``VAR_POISSON`` (and so
        the output's) accounts for (``FitOptions.ipc``).
    flagged_from, pixel_flags : ndarray or None
        Flux-image networks: GROUPDQ's first unusable read and PIXELDQ's bits, for their fit
        (``FitOptions.flagged_from``, ``FitOptions.pixel_flags``; :meth:`with_upstream_flags`).
    first_read : int, "auto" or None
        Flux-image networks: the first read their fit uses (``FitOptions.first_read``); None: ``auto``
        without a dark (the reads after the start transient), 0 with one (the dark takes the transient out).
    last_read : int or None
        Flux-image networks: the last read their fit uses.
    keep_background : bool
        Flux-image networks: the scene's smooth background across the columns (a sky gradient, extended
        emission; continuous across channel boundaries) is taken out before the network and given back after,
        so that it is not removed as channel offsets; nothing changes where it is not significant.
    """

    strip_rows: int = 64
    batch_rows: int | None = None
    device: str = "auto"
    precision: str = "fp32"
    flag_non_finite: bool = False
    calibration: object | None = None
    reference_check: bool = True
    jump_threshold: float | None = DEFAULT_JUMP_THRESHOLD
    jump_neighbours: bool = False
    jump_cluster_threshold: float | None = DEFAULT_CLUSTER_THRESHOLD
    jump_step: bool = True
    saturation: PixelMap | None = None
    gain: PixelMap | None = None
    dark: str | None = None
    linearity: str | None = None
    ipc: IpcKernel | None = None
    flagged_from: np.ndarray | None = None
    pixel_flags: np.ndarray | None = None
    first_read: int | str | None = None
    last_read: int | None = None
    keep_background: bool = True

    @property
    def reads_given(self) -> bool:
        """A dark, a linearity correction, an IPC kernel or a read range is asked for (flux-image networks only)."""
        return (self.dark is not None or self.linearity is not None or self.ipc is not None or self.first_read is not None
                or self.last_read is not None)

    def with_upstream_flags(self, path: str | os.PathLike, integration: int = 0) -> DenoiseSettings:
        """These settings with the GROUPDQ and PIXELDQ of the ramp file ``path``, where it has them and none were
        given."""
        return with_upstream_flags(self, path, integration)

    @property
    def fit_first_read(self) -> int | str:
        """The first read of the input fit: as given, else ``auto`` without a dark and 0 with one."""
        if self.first_read is not None:
            return self.first_read
        return 0 if self.dark is not None else "auto"

    def __post_init__(self) -> None:
        if self.precision not in ("fp32", "bf16"):
            raise UsageError(f"--precision must be 'fp32' or 'bf16', got {self.precision!r}")
        if self.strip_rows < 1 or (self.batch_rows is not None and self.batch_rows < 1):
            raise UsageError("--strip-rows and --batch-rows must be >= 1")


DEFAULT_SETTINGS = DenoiseSettings()


def pick_device(device: str = "auto") -> torch.device:
    """The torch device for ``device``: ``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.

    Raises
    ------
    UsageError
        If ``device`` names no such kind of device.
    UnavailableError
        If it asks for CUDA on a machine without it (or a GPU index it does not have).
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError):
        chosen = None
    if chosen is None or chosen.type not in ("cpu", "cuda"):
        raise UsageError(f"--device {device!r}: expected auto, cpu, cuda or cuda:N")
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            raise UnavailableError(f"--device {device}: CUDA is not available on this machine "
                                   f"(torch {torch.__version__}); use --device cpu or auto")
        if chosen.index is not None and chosen.index >= torch.cuda.device_count():
            raise UnavailableError(f"--device {device}: this machine has {torch.cuda.device_count()} GPU(s)")
    return chosen


LAYOUT_FIELDS = ("n_channels", "channel_width", "ref_border", "butterfly")


def readout_layout(geometry: ReadoutGeometry) -> dict:
    """What a model depends on in a geometry: channels, channel width, reference border, butterfly."""
    return {field: getattr(geometry, field) for field in LAYOUT_FIELDS}


def describe_layout(layout: dict) -> str:
    """``32 x 128`` (channels x channel width), with what differs from the usual border and butterfly."""
    text = f"{layout['n_channels']} x {layout['channel_width']}"
    if layout["ref_border"] != 4:
        text += f", reference border {layout['ref_border']}"
    return text + ("" if layout["butterfly"] else ", no butterfly")


def served_layouts(spec: ModelSpec) -> dict[str, dict]:
    """Layouts a model serves: the one it was trained on and those it was measured on (``spec.layouts``)."""
    trained = spec.readout_geometry
    return {trained.name: readout_layout(trained), **spec.layouts}


def served_layout_name(spec: ModelSpec, geometry: ReadoutGeometry) -> str | None:
    """The name of the served layout ``geometry`` has (see :func:`served_layouts`), None if it has none."""
    layout = readout_layout(geometry)
    return next((name for name, known in served_layouts(spec).items() if known == layout), None)


def check_model_geometry(spec: ModelSpec, geometry: ReadoutGeometry, source: str, *, any_layout: bool = False,
                         allow_unmeasured: bool = False) -> str:
    """The name of the served layout ``geometry`` has, or ``"unmeasured"`` where that is allowed.

    Parameters
    ----------
    spec : ModelSpec
    geometry : ReadoutGeometry
        The data's readout.
    source : str
        The input, for messages.
    any_layout : bool
        The architecture applies to any channel layout (nothing in it depends on the number or
        width of channels).
    allow_unmeasured : bool
        With ``any_layout``: run on a layout the model was never measured on (``--any-layout``; the
        benchmark, which is how it gets measured, always does), with a warning.

    Raises
    ------
    GeometryError
        If the layout is not served and not allowed, saying what would apply.
    """
    name = served_layout_name(spec, geometry)
    if name is not None:
        return name
    listed = "; ".join(f"{name} {describe_layout(known)}" for name, known in served_layouts(spec).items())
    found = f"model {spec.name!r} serves {listed}; the data have {describe_layout(readout_layout(geometry))}"
    measure = f"hxrg bench --suite bench-v1 --channels {geometry.n_channels} --model {spec.name} -o DIR"
    if not any_layout:
        raise GeometryError(f"{source}: {found} (channels x width), and its architecture takes no other")
    if not allow_unmeasured:
        raise GeometryError(f"{source}: {found} (channels x width); its architecture takes any layout: measure it "
                            f"with `{measure}`, then pass --any-layout")
    logging.getLogger(__name__).warning("%s: %s (channels x width), on which it was never measured (%s)",
                                        source, found, measure)
    return "unmeasured"


def model_geometry(
    spec: ModelSpec,
    shape: tuple[int, int],
    source: str,
    *,
    name: str | None = None,
    n_channels: int | None = None,
    butterfly: bool = True,
    recorded: str | None = None,
) -> ReadoutGeometry:
    """Geometry of reads of ``shape``: from a preset or channel count if given, else the preset the file's header
    names (``recorded``, ``GEOMETRY``) where it fits the reads, else the model's own (any rows)."""
    if name is not None or n_channels is not None:
        return geometry_for_shape(shape, name=name, n_channels=n_channels, butterfly=butterfly, source=source)
    named = PRESETS.get(recorded) if isinstance(recorded, str) else None
    if named is not None and named.n_cols == shape[1] and shape[0] <= named.n_rows:
        return named.for_data(shape, source)
    geometry = spec.readout_geometry.with_rows(shape[0])
    if geometry.n_cols != shape[1]:
        matching = sorted(name for name, g in PRESETS.items() if g.n_cols == shape[1] and name in served_layouts(spec))
        hint = f"--geometry {' or '.join(matching)}" if matching else "--geometry or --channels"
        raise GeometryError(
            f"{source}: reads have {shape[1]} columns, model {spec.name!r} was trained on {geometry.n_cols}; "
            f"give {hint}"
        )
    return geometry


def flag_model_failures(sci: np.ndarray, dq: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """DQ with ``DO_NOT_USE | UNRELIABLE_SLOPE`` where a usable pixel's model output is not finite."""
    import logging

    failed = usable & ~np.isfinite(sci)
    if failed.any():
        logging.getLogger(__name__).warning("the model's output is not finite at %d pixels; they are flagged",
                                            int(failed.sum()))
    flags = np.where(failed, np.uint32(PixelFlag.DO_NOT_USE | PixelFlag.UNRELIABLE_SLOPE), np.uint32(0))
    return (dq | flags).astype(np.uint32)


class Denoiser(ABC):
    """A trained network applied to ramps.

    Parameters
    ----------
    model : torch.nn.Module
    spec : ModelSpec
    """

    input_kind: str = ""
    any_layout: bool = False  # the network applies to any channel count and width
    fits_its_input: bool = False  # takes an up-the-ramp fit (the fit's options apply), not the reads

    def __init__(self, model: torch.nn.Module, spec: ModelSpec) -> None:
        self.model = model
        self.spec = spec

    @property
    def name(self) -> str:
        """The model's name."""
        return self.spec.name

    @property
    def min_reads(self) -> int:
        """Fewest reads a ramp must have."""
        return self.spec.n_reads

    def geometry_for(self, shape: tuple[int, int], source: str, *, allow_unmeasured: bool = False,
                     **geometry_args) -> ReadoutGeometry:
        """The geometry of reads of ``shape`` (options, else the model's own), checked against the model."""
        geometry = model_geometry(self.spec, shape, source, **geometry_args)
        self.check_geometry(geometry, source, allow_unmeasured=allow_unmeasured)
        return geometry

    def check_geometry(self, geometry: ReadoutGeometry, source: str, *, allow_unmeasured: bool = False) -> str:
        """The served layout ``geometry`` has (see :func:`check_model_geometry`), or ``"unmeasured"``."""
        return check_model_geometry(self.spec, geometry, source, any_layout=self.any_layout,
                                    allow_unmeasured=allow_unmeasured)

    @abstractmethod
    def denoise(
        self,
        ramp: Ramp,
        geometry: ReadoutGeometry,
        settings: DenoiseSettings = DEFAULT_SETTINGS,
        *,
        progress: bool = False,
        row_range: tuple[int, int] | None = None,
        fit: Callable[..., FluxImage] = fit_ramp,
    ) -> FluxImage:
        """The flux image of ``ramp`` (electrons over the ramp), with ERR, DQ and provenance."""

    @abstractmethod
    def denoise_split(
        self, path: str, model_path: str, geometry: ReadoutGeometry, client, parts: int, settings: DenoiseSettings
    ) -> FluxImage:
        """:meth:`denoise` of one large file with its work split into ``parts`` tasks on a Dask ``client``."""


_KINDS: dict[str, type[Denoiser]] = {}


def register(kind: str) -> Callable[[type[Denoiser]], type[Denoiser]]:
    """Class decorator: the :class:`Denoiser` for networks whose ``input_kind`` is ``kind``."""

    def add(cls: type[Denoiser]) -> type[Denoiser]:
        cls.input_kind = kind
        _KINDS[kind] = cls
        return cls

    return add


def make_denoiser(model: torch.nn.Module, spec: ModelSpec) -> Denoiser:
    """The :class:`Denoiser` for ``model``, chosen by the kind of input its class declares."""
    kind = getattr(type(model), "input_kind", None)
    if kind not in _KINDS:
        raise UsageError(f"model {spec.name!r}: no denoiser for networks that take {kind!r}")
    return _KINDS[kind](model, spec)


def load_denoiser(path: str, *, device: str = "cpu") -> Denoiser:
    """Load a model (shipped name, run folder or file) and wrap it in its :class:`Denoiser`."""
    model, spec = load_model(path, device=device)
    return make_denoiser(model, spec)
