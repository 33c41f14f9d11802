"""``hxrg demo``: the main job on a simulated exposure, end to end.

Simulates a NIRPS-like science ramp (a strip by default, the full frame on
request) with its truth and oracle, builds flux images with every classical
method and the shipped ``default`` model (or another), measures them against
the truth (pixels and extracted spectra) and writes images, a comparison
figure and a short report.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from hxrg_denoiser.bench.extraction import spectral_metrics
from hxrg_denoiser.bench.metrics import PixelErrors, pixel_errors
from hxrg_denoiser.errors import UsageError
from hxrg_denoiser.fitting import FitOptions, fit_ramp
from hxrg_denoiser.fitting.options import CLASSICAL_FITS, NEEDS_CALIBRATION
from hxrg_denoiser.geometry import preset
from hxrg_denoiser.io.output import write_flux_image
from hxrg_denoiser.io.product import FluxImage
from hxrg_denoiser.io.ramps import open_ramp
from hxrg_denoiser.io.safety import OutputFolder, atomic_output
from hxrg_denoiser.plots import plot_error_images, save_figure
from hxrg_denoiser.simulate.noise import noise_preset
from hxrg_denoiser.simulate.products import SimulationRequest, write_simulation
from hxrg_denoiser.simulate.scenes import make_scene

__all__ = ["DEMO_METHODS", "DEMO_OUTPUTS", "DemoResult", "run_demo"]

DEMO_OUTPUTS = ("data", "images", "comparison.png", "report.md")  # what the demo writes in its folder
MIN_READS = 2

DEMO_METHODS: dict[str, FitOptions] = {name: options for name, options in CLASSICAL_FITS.items()
                                       if name not in NEEDS_CALIBRATION}  # the benchmark's, less those needing darks


@dataclass
class DemoResult:
    """What the demo measured: pixel errors per method and where it wrote things."""

    errors: dict[str, PixelErrors]
    spectrum_rms: dict[str, float]
    outdir: Path
    seconds: float

    def table(self) -> str:
        """Markdown table of the pixel and extracted-spectrum errors, with the ratio to UTR."""
        utr = self.spectrum_rms["utr"]
        lines = [
            "| method | pixel RMS (e-) | robust sigma (e-) | bias (e-) | spectrum RMS (e-) | UTR / method (spectrum) |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, e in self.errors.items():
            spec = self.spectrum_rms[name]
            lines.append(f"| {name} | {e.rms:.3f} | {e.robust_sigma:.3f} | {e.bias:+.3f} | {spec:.2f} | {utr / spec:.2f} |")
        return "\n".join(lines)


def run_demo(
    outdir: str | os.PathLike,
    *,
    rows: int | None = 256,
    n_reads: int = 100,
    noise: str = "h4rg-lab",
    seed: int = 20261124,
    model: str | None = "default",
    overwrite: bool = False,
    progress: bool = True,
    keep_cubes: bool = False,
) -> DemoResult:
    """Run the demo into ``outdir`` (``rows=None`` for the full 4096-row frame).

    ``model``: a shipped model name or a model path, applied besides the
    classical methods (``None``: classical methods only). The simulated ramp
    and its oracle (``outdir/data``, 420 MB for a 256-row strip) are removed
    at the end unless ``keep_cubes``.
    """
    start = time.perf_counter()
    if n_reads < MIN_READS:
        raise UsageError(f"--reads {n_reads}: the demo needs at least {MIN_READS} reads (a flux and its jumps)")
    geometry = preset("nirps-h4rg", n_rows=rows)
    noise_model = noise_preset(noise)
    network = None
    if model is not None:
        from hxrg_denoiser.models.registry import load_model, model_files

        network, spec = load_model(model)  # a bad model is reported before anything is written
        if spec.n_reads > n_reads:
            raise UsageError(f"--reads {n_reads}: model {spec.name!r} takes {spec.n_reads} reads")
    folder = OutputFolder(outdir, inputs=model_files(model) if model is not None else (), overwrite=overwrite)
    folder.claim(DEMO_OUTPUTS)  # every output checked before any work
    try:
        result = _measure_demo(folder.path, geometry, n_reads, noise, noise_model, seed, network,
                               spec if network is not None else None, progress=progress, keep_cubes=keep_cubes)
    except BaseException:
        folder.discard()  # no partial demo: what this run began is removed
        raise
    result.seconds = time.perf_counter() - start
    return result


def _measure_demo(outdir: Path, geometry, n_reads: int, noise: str, noise_model, seed: int, network, spec, *,
                  progress: bool, keep_cubes: bool) -> DemoResult:
    """Simulate, fit, denoise, measure and write the demo's products into ``outdir`` (claimed already); the
    caller times it."""
    scene = make_scene("echelle", geometry, seed=seed)
    request = SimulationRequest(
        kind="science", geometry=geometry, n_reads=n_reads, noise=noise_model, noise_name=noise,
        scene=scene, seed=seed, oracle=True,
    )
    paths = write_simulation(request, outdir / "data", overwrite=True, progress=progress)
    images: dict[str, FluxImage] = {}
    with open_ramp(paths["ramp"]) as ramp:
        for name, options in DEMO_METHODS.items():
            images[name] = fit_ramp(ramp, geometry, options, progress=progress, description=name)
        if network is not None:
            from hxrg_denoiser.denoise.api import denoise_ramp

            images[spec.name] = denoise_ramp(ramp, network, spec, geometry, progress=progress)
    with open_ramp(paths["oracle"]) as ramp:
        images["oracle"] = fit_ramp(ramp, geometry, DEMO_METHODS["utr"], progress=progress, description="oracle")
    if not keep_cubes:
        for key in ("ramp", "oracle"):
            paths[key].unlink()
    science = ~geometry.reference_mask
    errors = {name: pixel_errors(image.sci, scene.image, science) for name, image in images.items()}
    spectra = {name: spectral_metrics(image.sci, scene.image, scene.orders, geometry).spectrum_rms
               for name, image in images.items()}
    image_folder = OutputFolder(outdir / "images", overwrite=True)
    for image, path in zip(images.values(), image_folder.claim(f"{name}.fits" for name in images)):
        write_flux_image(path, image, overwrite=True)
    figure = plot_error_images({name: image.sci for name, image in images.items()}, scene.image, science)
    save_figure(figure, outdir / "comparison.png", overwrite=True)
    result = DemoResult(errors, spectra, outdir, seconds=0.0)
    report = (
        f"# hxrg demo\n\nSimulated NIRPS-like echelle exposure: {geometry.n_rows} x {geometry.n_cols} pixels, "
        f"{n_reads} reads, noise preset `{noise}`, seed {seed}, scene 99th percentile 30 e- over the ramp.\n\n"
        f"Errors of each flux image against the true scene, over science pixels, and of the spectra extracted "
        f"(optimal extraction along the true traces):\n\n{result.table()}\n\n"
        "`oracle` is up-the-ramp fitting of the same ramp with its correlated noise removed exactly: the floor for "
        "methods that do not use the scene's structure. `default` is the shipped network (see "
        "`hxrg models` and its model card).\n\n![comparison](comparison.png)\n"
    )
    with atomic_output(outdir / "report.md", overwrite=True) as tmp:
        tmp.write_text(report)
    return result
