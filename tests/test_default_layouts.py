"""The shipped ``default`` on every preset layout it serves, and what happens on the others."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from conftest import write_cube

from hxrg_denoiser.bench.suite import BENCH_V1, build_case
from hxrg_denoiser.cli.main import main
from hxrg_denoiser.denoise.api import denoise_ramp
from hxrg_denoiser.fitting import FitOptions, fit_ramp
from hxrg_denoiser.geometry import PRESETS, preset
from hxrg_denoiser.models.registry import load_model
from hxrg_denoiser.simulate.noise import noise_preset
from hxrg_denoiser.simulate.ramp import simulate_cube


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_default_model_on_the_bench_case_of_each_preset(name):
    """bench-v1's h4rg-lab echelle case built on each preset (a 72-row strip of 30 reads): pixel RMS at least
    5 % below reference-corrected UTR's (which is 1.35x the oracle's here) and within 20 % of the oracle's.

    The bench figures (264 rows, 100 reads, spectra) are in the model card: ``hxrg bench --suite bench-v1
    --geometry NAME --model default``.
    """
    case = build_case(BENCH_V1[3], n_rows=72, n_reads=30, geometry=preset(name))
    geometry, truth = case.geometry, case.scene.image
    model, spec = load_model("default")
    denoised = denoise_ramp(case.ramp, model, spec, geometry).sci
    reference = fit_ramp(case.ramp, geometry, FitOptions(method="utr", refcorr="seed")).sci
    oracle = fit_ramp(case.oracle, geometry, FitOptions(method="utr", refcorr="none")).sci
    science = ~geometry.reference_mask
    rms = lambda image: float(np.sqrt(np.mean((image - truth)[science] ** 2)))  # noqa: E731
    assert rms(denoised) < 0.95 * rms(reference), (rms(denoised), rms(reference))
    assert rms(denoised) < 1.20 * rms(oracle), (rms(denoised), rms(oracle))


def _strip(tmp_path, name: str, rows: int = 24):
    geometry = preset(name, n_rows=rows)
    path = tmp_path / f"{name}.fits"
    write_cube(path, simulate_cube(geometry, 4, noise_preset("nirspec"), seed=11))
    return path


def test_a_served_preset_is_named_in_the_header(tmp_path):
    path = _strip(tmp_path, "jwst-h2rg")
    out = tmp_path / "out.fits"
    assert main(["denoise", str(path), "-o", str(out), "--geometry", "jwst-h2rg", "-q"]) == 0
    assert fits.getheader(out)["MODELLAY"] == "jwst-h2rg"


def test_width_of_two_served_presets_asks_which(tmp_path, capsys):
    path = _strip(tmp_path, "h2rg-32")
    assert main(["denoise", str(path), "-o", str(tmp_path / "out.fits"), "-q"]) == 2
    assert "give --geometry h2rg-32 or jwst-h2rg" in capsys.readouterr().err


def test_an_unmeasured_layout_runs_only_when_asked_and_says_so(tmp_path, caplog):
    path = _strip(tmp_path, "h2rg-32")
    out = tmp_path / "out.fits"
    assert main(["denoise", str(path), "-o", str(out), "--channels", "16", "-q"]) == 2
    assert not out.exists()
    assert main(["denoise", str(path), "-o", str(out), "--channels", "16", "--any-layout", "-q"]) == 0
    assert fits.getheader(out)["MODELLAY"] == "unmeasured"
    assert "never measured" in caplog.text
