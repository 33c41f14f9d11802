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
from hxrg_denoiser.errors import OutputError
from hxrg_denoiser.fitting import FitOptions, FluxImage, fit_ramp
from hxrg_denoiser.geometry import preset
from hxrg_denoiser.io.output import atomic_output, prepare_output_folder, write_flux_image
from hxrg_denoiser.io.ramps import open_ramp
from hxrg_denoiser.plots import plot_error_images, save_figure
from hxrg_denoiser.simulate.noise import noise_preset
from hxrg_denoiser.simulate.products import SimulationRequest, write_simulation
from hxrg_denoiser.simulate.scenes import make_scene

__all__ = ["DEMO_METHODS", "DemoResult", "run_demo"]

DEMO_METHODS: dict[str, FitOptions] = {
    "cds": FitOptions(method="cds", refcorr="none"),
    "utr": FitOptions(method="utr", refcorr="none"),
    "utr_ref_seed": FitOptions(method="utr", refcorr="seed"),
    "utr_ref_smoothed": FitOptions(method="utr", refcorr="smoothed"),
    "utr_ref_seed_clean": FitOptions(method="utr", refcorr="seed", clean=True),
}


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
    outdir = Path(outdir)
    if (outdir / "report.md").exists() and not overwrite:
        raise OutputError(f"{outdir}: holds a demo already; pass --overwrite to replace it")
    noise_model = noise_preset(noise)
    network = None
    if model is not None:
        from hxrg_denoiser.models.registry import load_model

        network, spec = load_model(model)  # a bad model is reported before anything is written
    prepare_output_folder(outdir)
    geometry = preset("nirps-h4rg", n_rows=rows)
    scene = make_scene("echelle", geometry, seed=seed)
    request = SimulationRequest(
        kind="science", geometry=geometry, n_reads=n_reads, noise=noise_model, noise_name=noise,
        scene=scene, seed=seed, oracle=True,
    )
    paths = write_simulation(request, outdir / "data", overwrite=overwrite, progress=progress)
    images: dict[str, FluxImage] = {}
    with open_ramp(paths["ramp"]) as ramp:
        for name, options in DEMO_METHODS.items():
            images[name] = fit_ramp(ramp, geometry, options, progress=progress, description=name)
        if network is not None:
            from hxrg_denoiser.inference import denoise_ramp

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
    (outdir / "images").mkdir(exist_ok=True)
    for name, image in images.items():
        write_flux_image(outdir / "images" / f"{name}.fits", image, overwrite=overwrite)
    figure = plot_error_images({name: image.sci for name, image in images.items()}, scene.image, science)
    save_figure(figure, outdir / "comparison.png", overwrite=overwrite)
    result = DemoResult(errors, spectra, outdir, time.perf_counter() - start)
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
