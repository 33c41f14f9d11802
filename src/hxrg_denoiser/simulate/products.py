"""Write simulated darks, scenes and science ramps to disk, the way real data come.

``OUTDIR/cube.fits`` (3D, reads on NAXIS3) or ``OUTDIR/reads/read_NNN.fits``,
``OUTDIR/truth.fits`` (expected electrons over the ramp, same layout as a read),
``OUTDIR/traces.fits`` for an echelle scene (trace centres and widths, for ``hxrg bench --traces``)
and, on request, ``OUTDIR/oracle.fits`` (the ramp without its correlated noise).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from hxrg_denoiser._version import __version__
from hxrg_denoiser.allocator import available_memory
from hxrg_denoiser.errors import OutputError
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.linearity import write_linearity
from hxrg_denoiser.io.output import RampWriter, write_image
from hxrg_denoiser.io.safety import OutputFolder, atomic_output, check_output_path
from hxrg_denoiser.simulate.detector import NonLinearity, detector_seed
from hxrg_denoiser.simulate.noise import NoiseModel
from hxrg_denoiser.simulate.ramp import RampSimulator
from hxrg_denoiser.simulate.scenes import Scene, write_traces

__all__ = ["SimulationRequest", "write_simulation"]

KINDS = ("dark", "scene", "science")


@dataclass(frozen=True)
class SimulationRequest:
    """What to simulate and how to write it.

    Attributes
    ----------
    kind : {"dark", "scene", "science"}
    geometry : ReadoutGeometry
    n_reads : int
    noise : NoiseModel
    noise_name : str
        Label of the noise model for headers.
    scene : Scene or None
        Required for ``scene`` and ``science``.
    seed : int
    layout : {"cube", "reads"}
    dtype : {"float32", "uint16"}
    gain : float
        Electrons per output unit.
    poisson : bool
    oracle : bool
        Also write the ramp without correlated noise.
    """

    kind: str
    geometry: ReadoutGeometry
    n_reads: int
    noise: NoiseModel
    noise_name: str = "custom"
    scene: Scene | None = None
    seed: int = 0
    layout: str = "cube"
    dtype: str = "float32"
    gain: float = 1.0
    poisson: bool = True
    oracle: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind != "dark" and self.scene is None:
            raise ValueError(f"a {self.kind} simulation needs a scene")
        if self.n_reads < 1:
            raise ValueError(f"--reads must be >= 1, got {self.n_reads}")

    def memory_bytes(self) -> int:
        """Peak memory of the simulation, estimated: a base plus bytes per pixel of one frame (the reads are
        made one at a time; measured 60 bytes per pixel on nirps-h4rg strips of 256 and 1024 rows, 4 to 64
        reads)."""
        return SIMULATION_BASE_BYTES + SIMULATION_BYTES_PER_PIXEL * self.geometry.n_rows * self.geometry.n_cols

    def output_bytes(self) -> int:
        """Bytes of the files written (the ramp, its oracle, the truth), headers left out."""
        frame = self.geometry.n_rows * self.geometry.n_cols
        ramps = (self.kind != "scene") * (1 + self.oracle) * self.n_reads * (2 if self.dtype == "uint16" else 4)
        linearity = 4 * (LINEARITY_ORDER + 1) * (self.kind != "scene" and self.noise.nonlinearity > 0)
        return frame * (ramps + 4 * (self.kind != "dark") + linearity)

    def header(self) -> dict:
        """Provenance keywords."""
        g = self.geometry
        return {
            "ORIGIN": ("hxrg-denoiser", "simulated data"),
            "HXRGVER": (__version__, "hxrg-denoiser version"),
            "SIMKIND": (self.kind, "dark, scene or science"),
            "GEOMETRY": (g.name, "readout geometry"),
            "NCHAN": (g.n_channels, "output channels"),
            "BUTTERFL": (g.butterfly, "odd channels read in reverse"),
            "FRMTIME": (g.frame_time, "[s] frame time"),
            "NOISE": (self.noise_name, "noise preset"),
            "SEED": (self.seed, "random seed"),
            "SCENE": (self.scene.kind if self.scene is not None else "none", "scene kind"),
            "POISSON": (self.poisson, "Poisson accumulation of charge"),
        }


def check_resources(request: SimulationRequest, outdir: Path) -> None:
    """Refuse, before any work, a simulation that would not fit in memory or on the disk of ``outdir``.

    Raises
    ------
    OutputError
        Naming the sizes needed and available.
    """
    g = request.geometry
    memory, available = request.memory_bytes(), available_memory()
    if available is not None and memory > available:
        raise OutputError(f"{g.n_rows} x {g.n_cols} pixels: the simulation needs about {memory / 1e9:.1f} GB of "
                          f"memory, {available / 1e9:.1f} GB are available; simulate a strip of fewer rows")
    existing = next(p for p in (outdir, *outdir.absolute().parents) if p.exists())
    free = shutil.disk_usage(existing).free
    if request.output_bytes() > free:
        raise OutputError(f"{outdir}: the products need about {request.output_bytes() / 1e9:.1f} GB, the disk has "
                          f"{free / 1e9:.1f} GB free")


def _outputs(request: SimulationRequest, outdir: Path) -> dict[str, Path]:
    ramp_name = "cube.fits" if request.layout == "cube" else "reads"
    paths = {}
    if request.kind != "scene":
        paths["ramp"] = outdir / ramp_name
        if request.oracle:
            paths["oracle"] = outdir / ("oracle.fits" if request.layout == "cube" else "oracle_reads")
        if request.noise.nonlinearity > 0:
            paths["linearity"] = outdir / "linearity.fits"
    if request.scene is not None and request.kind != "dark":
        paths["truth"] = outdir / "truth.fits"
        if request.scene.orders:
            paths["traces"] = outdir / "traces.fits"
    paths["meta"] = outdir / "simulation.json"
    return paths


SIMULATION_BASE_BYTES = 200_000_000
LINEARITY_ORDER = 5  # the simulated detector's linearity reference: c0 .. c5
SIMULATION_BYTES_PER_PIXEL = 64


def write_simulation(
    request: SimulationRequest,
    outdir: str | os.PathLike,
    *,
    overwrite: bool = False,
    progress: bool = False,
    inputs: tuple[str | os.PathLike, ...] = (),
) -> dict[str, Path]:
    """Simulate and write the products of ``request`` into ``outdir``; returns their paths.

    Reads are generated and written one at a time, so memory stays at a few
    frames whatever the ramp size. Each product is written to a temporary
    name and renamed when complete; existing products are refused unless
    ``overwrite``, and none may be one of ``inputs`` (a scene file) or lie in an input folder.
    """
    folder = OutputFolder(outdir, inputs=inputs, overwrite=overwrite)
    check_resources(request, folder.path)
    planned = _outputs(request, folder.path)
    folder.claim(path.name for path in planned.values())  # every product checked before any work
    for key, path in planned.items():
        check_output_path(path, overwrite=overwrite, inputs=inputs, folder=key in ("ramp", "oracle"))
    try:
        _write_products(request, planned, overwrite=overwrite, progress=progress)
    except BaseException:
        folder.discard()  # no partial product of this run is left
        raise
    return planned


def _write_products(request: SimulationRequest, paths: dict[str, Path], *, overwrite: bool, progress: bool) -> None:
    """Simulate and write the products of ``request`` to ``paths`` (checked and claimed already)."""
    g = request.geometry
    header = request.header()
    if "ramp" in paths:
        simulator = RampSimulator(
            g, request.n_reads, request.noise, seed=request.seed, poisson=request.poisson,
            scene=None if request.scene is None or request.kind == "dark" else request.scene.image,
        )
        def ramp_writer(path: Path) -> RampWriter:
            return RampWriter(path, request.n_reads, g.shape, header=header, layout=request.layout,
                              dtype=request.dtype, gain=request.gain, overwrite=overwrite)

        writer = ramp_writer(paths["ramp"])
        oracle = ramp_writer(paths["oracle"]) if request.oracle else None
        try:
            reads = tqdm(simulator.reads(), total=request.n_reads, desc=f"simulate {request.kind}", unit="read",
                         disable=not progress)
            for read in reads:
                writer.write(read.data)
                if oracle is not None:
                    oracle.write(read.data - read.correlated)
            writer.close()
            if oracle is not None:
                oracle.close()
        except BaseException:
            writer.abort()
            if oracle is not None:
                oracle.abort()
            raise
    if "linearity" in paths:
        nonlinearity = NonLinearity(g, request.noise, detector_seed(request.noise, request.seed))
        coefficients = nonlinearity.correction(request.gain, LINEARITY_ORDER)
        coefficients[:, g.reference_mask] = np.nan
        write_linearity(paths["linearity"], coefficients, overwrite=overwrite, header={
            **header, "BUNIT": ("DN", "coefficients for the signal in the ramp's units")})
    if "truth" in paths and request.scene is not None:
        truth_header = {**header, "BUNIT": ("e-", "expected electrons over the ramp"), "NREADS": request.n_reads}
        write_image(paths["truth"], request.scene.image.astype(np.float32), header=truth_header, overwrite=overwrite)
        if "traces" in paths:
            write_traces(paths["traces"], request.scene.orders, overwrite=overwrite)
    meta = {
        "kind": request.kind,
        "geometry": g.to_dict(),
        "n_reads": request.n_reads,
        "noise": request.noise_name,
        "noise_levels": request.noise.to_dict(),
        "seed": request.seed,
        "scene": request.scene.kind if request.scene is not None else None,
        "scene_scale": float(request.scene.scale) if request.scene is not None else None,
        "layout": request.layout,
        "dtype": request.dtype,
        "gain": request.gain,
        "version": __version__,
        "files": {k: p.name for k, p in paths.items() if k != "meta"},
    }
    with atomic_output(paths["meta"], overwrite=True) as tmp:
        tmp.write_text(json.dumps(meta, indent=2))
