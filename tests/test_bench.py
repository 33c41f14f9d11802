import dataclasses
import json

import numpy as np
import pytest
from conftest import write_cube

from hxrg_denoiser.bench.extraction import extract_orders, spectral_metrics
from hxrg_denoiser.bench.metrics import linearity, noise_slope, pixel_errors, robust_sigma
from hxrg_denoiser.bench.runner import FitMemo, _reads_curve, classical_methods, evaluate_case
from hxrg_denoiser.bench.suite import BENCH_SEEDS, CaseData, check_training_seed
from hxrg_denoiser.cli import main
from hxrg_denoiser.fitting import FitOptions, fit_ramp, fit_ramp_rows
from hxrg_denoiser.geometry import ReadoutGeometry, preset
from hxrg_denoiser.io.ramps import ArrayRamp
from hxrg_denoiser.simulate import NoiseModel, Scene, echelle_scene, make_scene, simulate_cube


def test_white_noise_of_known_sigma_and_a_known_bias():
    rng = np.random.default_rng(0)
    truth = rng.uniform(0, 50, (300, 300))
    errors = pixel_errors(truth + rng.normal(0.7, 3.0, truth.shape), truth)
    assert errors.rms == pytest.approx(np.sqrt(3.0**2 + 0.7**2), rel=0.02)
    assert errors.robust_sigma == pytest.approx(3.0, rel=0.02)
    assert errors.bias == pytest.approx(0.7, abs=0.03)
    assert robust_sigma(np.r_[rng.normal(0, 2, 10000), np.full(50, 1e6)]) == pytest.approx(2.0, rel=0.05)


def test_linearity_of_a_scaled_estimate():
    truth = np.repeat(np.linspace(0, 60, 61), 100)
    slope, intercept = linearity(1.02 * truth + 0.5, truth)
    assert slope == pytest.approx(1.02, abs=1e-6) and intercept == pytest.approx(0.5, abs=1e-6)


def test_extraction_of_a_noiseless_scene_returns_the_true_spectrum():
    geometry = preset("nirps-h4rg", n_rows=264)
    scene = echelle_scene(geometry, seed=3)
    spectra = extract_orders(scene.image, scene.orders, geometry)
    checked = 0
    for order, extracted in zip(scene.orders, spectra):
        valid = np.isfinite(extracted)
        if valid.sum() > 1000:
            np.testing.assert_allclose(extracted[valid], order.spectrum[valid], rtol=1e-4, atol=1e-6)
            checked += 1
    assert checked >= 3
    metrics = spectral_metrics(scene.image, scene.image, scene.orders, geometry)
    assert metrics.spectrum_rms == 0 and metrics.line_depth_bias == 0 and metrics.flux_conservation == 0


def test_smoothing_is_caught_as_line_depth_bias():
    from scipy.ndimage import uniform_filter1d

    geometry = preset("nirps-h4rg", n_rows=136)
    scene = make_scene("echelle", geometry, seed=4)
    smoothed = uniform_filter1d(scene.image, 7, axis=1)
    metrics = spectral_metrics(smoothed, scene.image, scene.orders, geometry)
    assert metrics.line_depth_bias < -0.1
    assert metrics.flux_conservation < 0.01


def test_n_slope_of_white_noise_utr_is_minus_one_half():
    geometry = ReadoutGeometry("t", 136, 256, 4)
    cube = simulate_cube(geometry, 100, NoiseModel(white=5.0, ref_white=5.0), seed=5)
    scene = Scene(np.zeros(geometry.shape, np.float32), "none")
    case = CaseData("white", "echelle", geometry, ArrayRamp(cube), None, scene)
    utr = classical_methods(oracle=False)[1]
    curve = _reads_curve(utr, case, (3, 5, 10, 20, 50, 100), ~geometry.reference_mask)
    assert noise_slope(np.array(list(curve)), np.array(list(curve.values()))) == pytest.approx(-0.5, abs=0.05)


@pytest.mark.integration
def test_evaluate_case_metrics_and_nulls():
    geometry = preset("nirps-h4rg", n_rows=40)
    scene = make_scene("echelle", geometry, seed=6)
    cube, clean = simulate_cube(geometry, 10, NoiseModel(white=3.0, ref_white=1.0, correlated_pink=3.0), scene=scene.image,
                                seed=6, oracle=True)
    case = CaseData("c", "echelle", geometry, ArrayRamp(cube), ArrayRamp(clean), scene)
    result = evaluate_case(case, classical_methods(), reads_list=(3, 10))
    assert set(result.metrics) == {"cds", "utr", "utr_ref_seed", "utr_ref_smoothed", "utr_ref_seed_clean", "oracle"}
    assert result.metrics["utr"]["utr_over_method_spectrum"] == pytest.approx(1.0)
    assert result.metrics["oracle"]["utr_over_method_spectrum"] > 1.0
    assert result.metrics["oracle"]["linearity_slope"] == pytest.approx(1.0, abs=0.05)
    flat = CaseData("f", "ood", geometry, ArrayRamp(cube), None, Scene(np.zeros(geometry.shape, np.float32), "none"))
    metrics = evaluate_case(flat, classical_methods()).metrics
    assert "oracle" not in metrics and metrics["utr"]["spectrum_rms"] is None and metrics["utr"]["n_slope"] is None


@pytest.mark.integration
def test_fit_memo_fits_once_for_options_that_differ_after_the_fit(monkeypatch):
    import hxrg_denoiser.bench.runner as runner

    geometry = preset("nirps-h4rg", n_rows=40)
    scene = make_scene("echelle", geometry, seed=7)
    cube = simulate_cube(geometry, 12, NoiseModel(white=3.0, ref_white=1.0, correlated_pink=3.0), scene=scene.image,
                         seed=7)
    ramp = ArrayRamp(cube)
    calls = []
    monkeypatch.setattr(runner, "fit_ramp_rows", lambda *a, **k: calls.append(a[2]) or fit_ramp_rows(*a, **k))
    memo = FitMemo()
    options = [FitOptions(refcorr="seed"), FitOptions(refcorr="seed", clean=True),
               FitOptions(refcorr="seed", strip_rows=16, check_errors=False), FitOptions(refcorr="auto"),
               FitOptions(refcorr="none"), FitOptions(method="cds", refcorr="seed")]
    images = [memo(ramp, geometry, chosen) for chosen in options]
    assert [(c.method, c.refcorr) for c in calls] == [("utr", "seed"), ("utr", "none"), ("cds", "seed")]
    assert memo(ramp, geometry, options[1]) is images[1]  # the finished image is kept too
    for chosen, image in zip(options, images):
        direct = fit_ramp(ramp, geometry, dataclasses.replace(chosen, check_errors=True))
        for name in ("sci", "err", "dq", "var_rnoise", "var_poisson", "reads_used"):
            np.testing.assert_array_equal(getattr(image, name), getattr(direct, name), err_msg=f"{chosen} {name}")
    assert not np.array_equal(images[0].sci, images[1].sci, equal_nan=True)  # the cleaning did run
    images[1].dq[:] = 0  # a caller that changes its flags changes no other image
    assert images[0].dq.any()


def test_bench_seeds_are_reserved():
    with pytest.raises(ValueError, match="reserved for the benchmark"):
        check_training_seed(next(iter(BENCH_SEEDS)))
    check_training_seed(1)


@pytest.mark.integration
def test_bench_cli_suite_writes_report_json_and_figures(tmp_path, monkeypatch):
    from hxrg_denoiser.bench import command

    calls = iter(["abc123 (the code when the run started)", "changed during the run"])
    monkeypatch.setattr(command, "source_commit", lambda: next(calls))
    out = tmp_path / "bench"
    assert main(["bench", "--suite", "bench-v1-quick", "--rows", "24", "--reads", "6", "--out", str(out), "-q",
                 "--jobs", "2"]) == 0
    document = json.loads((out / "metrics.json").read_text())
    case = document["cases"]["echelle-nirspec-s9001"]
    for method in ("cds", "utr", "utr_ref_seed", "oracle"):
        assert set(case[method]) >= {"pixel_rms", "pixel_robust_sigma", "pixel_bias", "linearity_slope", "n_slope",
                                     "spectrum_rms", "line_depth_bias", "flux_conservation"}
    assert "| oracle |" in (out / "report.md").read_text()
    run = document["run"]  # when, with which code, on which machine: what the docs' tables print
    assert run["command"].startswith("hxrg bench") and run["seconds"] > 0 and run["machine"]["cpus"] >= 1
    assert len(run["date"]) == len("2026-12-07 04:00 UTC") and run["software"]["numpy"]
    assert run["commit"] == "abc123 (the code when the run started)"
    monkeypatch.undo()
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert "echelle-nirspec-s9001_errors.png" in pngs and "echelle-nirspec-s9001_error_vs_reads.png" in pngs
    assert main(["bench", "--suite", "bench-v1-quick", "--rows", "24", "--reads", "6", "--out", str(out), "-q"]) == 2
    # in worker processes (one per family, above) or in this one: the same numbers and figures
    alone = tmp_path / "alone"
    assert main(["bench", "--suite", "bench-v1-quick", "--rows", "24", "--reads", "6", "--out", str(alone), "-q",
                 "--jobs", "1"]) == 0
    assert json.loads((alone / "metrics.json").read_text())["cases"] == document["cases"]
    assert sorted(p.name for p in alone.glob("*.png")) == pngs


@pytest.mark.integration
def test_bench_cli_with_user_darks_and_scene(tmp_path):
    geometry = ReadoutGeometry("t", 40, 128, 4)
    dark = simulate_cube(geometry, 6, NoiseModel(white=4.0, ref_white=1.0), seed=1)
    truth = make_scene("flat", geometry, flat_level=50.0).image
    from astropy.io import fits

    fits.PrimaryHDU(truth).writeto(tmp_path / "truth.fits")
    write_cube(tmp_path / "dark.fits", dark)
    out = tmp_path / "b"
    assert main(["bench", "--darks", str(tmp_path / "dark.fits"), "--scene", str(tmp_path / "truth.fits"),
                 "--channels", "4", "--out", str(out), "-q"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())["cases"]["dark.fits"]
    assert "oracle" not in metrics
    assert metrics["utr"]["pixel_bias"] == pytest.approx(0.0, abs=1.0)
    assert metrics["utr"]["linearity_slope"] is not None
    assert metrics["utr"]["n_slope"] is not None  # the error-versus-reads curve is drawn by default
    quick = tmp_path / "quick"
    assert main(["bench", "--darks", str(tmp_path / "dark.fits"), "--scene", str(tmp_path / "truth.fits"),
                 "--channels", "4", "--out", str(quick), "-q", "--no-reads-curves"]) == 0
    without = json.loads((quick / "metrics.json").read_text())["cases"]["dark.fits"]
    assert without["utr"]["n_slope"] is None
    assert without["utr"]["pixel_rms"] == metrics["utr"]["pixel_rms"]


@pytest.mark.integration
def test_users_darks_are_measured_in_workers_with_one_set_of_figures(tmp_path):
    geometry = ReadoutGeometry("t", 40, 128, 4)
    darks = [str(write_cube(tmp_path / f"dark{seed}.fits", simulate_cube(geometry, 5, NoiseModel(white=4.0), seed=seed)))
             for seed in (1, 2)]
    runs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs{jobs}"
        assert main(["bench", "--darks", *darks, "--scene", "flat", "--channels", "4", "--out", str(out), "-q",
                     "--no-reads-curves", "--jobs", jobs]) == 0
        runs[jobs] = (json.loads((out / "metrics.json").read_text())["cases"], sorted(p.name for p in out.glob("*.png")))
    assert runs["1"] == runs["2"]
    assert list(runs["2"][0]) == ["dark1.fits", "dark2.fits"]  # in the order given
    assert runs["2"][1] and all(name.startswith("dark1.fits") for name in runs["2"][1])  # the group's first dark


@pytest.mark.integration
def test_retaining_freed_memory_changes_no_result():
    """The allocator setting the benchmark makes (glibc mallopt) leaves every computed value as it was."""
    import subprocess
    import sys

    code = ("import numpy as np, sys\n"
            "from hxrg_denoiser.allocator import retain_freed_memory\n"
            "taken = retain_freed_memory() if sys.argv[1] == '1' else None\n"
            "from hxrg_denoiser.geometry import ReadoutGeometry\n"
            "from hxrg_denoiser.simulate import NoiseModel, simulate_cube\n"
            "from hxrg_denoiser.fitting import FitOptions, fit_cube\n"
            "g = ReadoutGeometry('t', 40, 128, 4)\n"
            "cube = simulate_cube(g, 6, NoiseModel(white=4.0, correlated_pink=2.0), seed=3)\n"
            "print(taken, float(np.sum(fit_cube(cube, g, FitOptions(clean=True)).sci, dtype=np.float64)).hex())\n")
    runs = [subprocess.run([sys.executable, "-c", code, flag], capture_output=True, text=True, check=True).stdout.split()
            for flag in ("0", "1")]
    assert runs[0][1] == runs[1][1]
    if sys.platform.startswith("linux"):
        assert runs[1][0] == "True"


def test_bench_v3_cases_are_made_on_their_own_geometry_and_reads():
    from hxrg_denoiser.bench.command import suite_cases
    from hxrg_denoiser.bench.suite import BENCH_V3, BENCH_V3_FAMILIES

    assert len(BENCH_V3) == 2 * len(BENCH_V3_FAMILIES)
    assert {c.seed for c in BENCH_V3} <= BENCH_SEEDS
    geometries = {c.geometry for c in BENCH_V3}
    assert geometries == {"nirps-h4rg", "jwst-h2rg", "h2rg-32"}
    builder = next(b for b in suite_cases("bench-v3", n_rows=32) if b.name.startswith("imaging-jwst"))
    case = builder.build()
    assert case.geometry.name == "jwst-h2rg" and case.geometry.n_channels == 4
    assert case.ramp.n_reads == 30 and case.ramp.n_rows == 32 and case.scene.sources is not None
    reset = next(c for c in BENCH_V3 if c.group == "reset-stars")
    assert dict(reset.noise_changes)["reset_anomaly"] == 45.0


@pytest.mark.integration
def test_bench_v3_measures_photometry_and_the_sky_against_more_rivals(tmp_path):
    out = tmp_path / "v3"
    assert main(["bench", "--suite", "bench-v3-quick", "--rows", "40", "--reads", "8", "--out", str(out), "-q",
                 "--jobs", "1"]) == 0
    document = json.loads((out / "metrics.json").read_text())
    case = document["cases"]["imaging-jwst-s9411"]
    assert "cds" not in case and "utr_ref_seed_auto" in case
    for method in ("utr", "utr_ref_seed", "oracle"):
        assert case[method]["phot_raw_rms"] > 0 and case[method]["phot_local_rms"] > 0
        assert case[method]["channel_spread"] >= 0 and case[method]["spectrum_rms"] is None
    # the oracle has no correlated noise: its channels' mean errors are the closest together
    assert case["oracle"]["channel_spread"] < case["utr"]["channel_spread"]
    report = (out / "report.md").read_text()
    assert "utr, utr_ref_seed, utr_ref_smoothed, utr_ref_seed_auto" not in report  # no model, no targets
    assert "raw photometry RMS" in report


def test_targets_compare_photometry_with_the_suites_rivals():
    from hxrg_denoiser.bench.runner import CaseResult
    from hxrg_denoiser.bench.targets import target_checks, targets_table

    def metrics(**values):
        return {"pixel_rms": 1.0, "spectrum_rms_box7": None, "spectrum_rms_bgsub": None, "phot_raw_rms": None,
                "phot_local_rms": None, "lit_minus_dark_bias": None, "bgsub_over_oracle": None, **values}

    result = CaseResult("c", "imaging", {
        "utr_ref_seed": metrics(phot_raw_rms=100.0, phot_local_rms=90.0),
        "utr_ref_smoothed": metrics(phot_raw_rms=110.0, phot_local_rms=95.0),
        "utr": metrics(phot_raw_rms=80.0, phot_local_rms=95.0),
        "model": metrics(phot_raw_rms=90.0, phot_local_rms=90.0)}, group="g")
    plain, = target_checks([result], ["model"], lambda r: r.group)
    assert plain["phot_raw_vs_best"] == pytest.approx(0.9) and plain["met"]["phot_raw"]
    strict, = target_checks([result], ["model"], lambda r: r.group, ("utr",))
    assert strict["phot_raw_vs_best"] == pytest.approx(90 / 80) and not strict["met"]["phot_raw"]
    assert strict["phot_local_vs_best"] == pytest.approx(1.0) and strict["met"]["phot_local"]
    assert "**1.125**" in targets_table([strict])
