"""The readout-set flux-image denoiser, its training recipe and the shipped default model."""

import json

import numpy as np
import pytest
import torch
from conftest import write_cube
from safetensors.torch import load_file

from hxrg_denoiser.classical.cleaning import clean_flux_image
from hxrg_denoiser.cli import main
from hxrg_denoiser.fitting import FitOptions, fit_ramp
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.ramps import ArrayRamp
from hxrg_denoiser.models.readout_set import N_FEATURES, ReadoutSetConfig, ReadoutSetNet
from hxrg_denoiser.models.readout_set_image import (
    correlated_noise,
    denoise_flux_image,
    image_noise_sigma,
    readout_features,
    smoothed_correction,
)
from hxrg_denoiser.models.registry import ModelFileError, load_model, resolve_model, save_model, shipped_models
from hxrg_denoiser.simulate import make_scene, noise_preset, simulate_cube
from hxrg_denoiser.training.readout_set import FluxTrainConfig, train_flux_model, training_items
from hxrg_denoiser.training.readout_set_examples import ExampleSpec, make_example

GEOMETRY = ReadoutGeometry("tiny-rs", 40, 128, 4)  # 4 channels of 32 columns, butterfly, 4 reference pixels
SMALL = ReadoutSetConfig(features=6, row_dilations=[1, 2], context=3)


def random_net(seed: int = 0, config: ReadoutSetConfig = SMALL) -> ReadoutSetNet:
    """A network whose output head is not zero (a fresh one predicts no correction)."""
    torch.manual_seed(seed)
    net = ReadoutSetNet(config)
    torch.nn.init.normal_(net.head.weight, std=0.3)
    return net.eval()


def noisy_image(geometry: ReadoutGeometry = GEOMETRY, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = rng.normal(0.0, 3.0, geometry.shape) + make_scene("echelle", geometry, seed=seed).image
    return image.astype(np.float32)


def tiny_spec(seed: int, reads=(6, 3)) -> ExampleSpec:
    scale = {name: 1.0 for name in noise_preset("h4rg-lab").correlated_components}
    return ExampleSpec(seed, "h4rg-lab", scale, "echelle", 30.0, 0.0, reads)


def test_default_configuration_is_small():
    net = ReadoutSetNet()
    assert sum(p.numel() for p in net.parameters()) <= 1_000_000


def test_any_number_of_channels_and_rows():
    net = random_net()
    for channels, rows, positions in ((4, 10, 16), (32, 7, 128), (1, 5, 8)):
        out = net(torch.randn(1, channels, N_FEATURES, rows, positions))
        assert out.shape == (1, channels, rows, positions)


def test_channels_are_a_set():
    """Permuting the output channels permutes the prediction the same way: no channel is special."""
    net = random_net()
    x = torch.randn(1, 5, N_FEATURES, 9, 16)
    order = torch.tensor([3, 0, 4, 1, 2])
    with torch.no_grad():
        assert torch.allclose(net(x)[:, order], net(x[:, order]), atol=1e-5)


def test_fresh_network_is_the_classical_cleaning():
    image = noisy_image()
    net = ReadoutSetNet(SMALL).eval()
    expected = clean_flux_image(image, GEOMETRY)
    np.testing.assert_allclose(denoise_flux_image(image, GEOMETRY, net), expected, atol=1e-4)


def test_strip_size_does_not_change_the_result():
    image = noisy_image()
    net = random_net()
    whole = correlated_noise(image, GEOMETRY, net, strip_rows=1000)
    for strip_rows in (7, 16):
        np.testing.assert_allclose(correlated_noise(image, GEOMETRY, net, strip_rows=strip_rows), whole, atol=1e-4)


def test_smoothed_correction_averages_over_science_pixels_only():
    rng = np.random.default_rng(3)
    science = ~GEOMETRY.reference_mask
    science[10, 20] = False  # a non-finite input pixel
    white = rng.normal(0.0, 1.0, GEOMETRY.shape).astype(np.float32)
    np.testing.assert_array_equal(smoothed_correction(white, science, (1, 1)), white)
    # a correction that is the same everywhere stays so, up to the edges and beside excluded pixels,
    # whatever the excluded pixels hold
    level = np.where(science, 2.5, np.nan).astype(np.float32)
    level[GEOMETRY.reference_mask] = 1e6
    np.testing.assert_allclose(smoothed_correction(level, science, (9, 7))[science], 2.5, rtol=1e-5)
    # pixel-to-pixel noise in the correction is averaged down by the window's area
    smooth = smoothed_correction(white, science, (9, 7))
    inner = science.copy()
    inner[:10], inner[-10:], inner[:, :10], inner[:, -10:] = False, False, False, False
    assert np.std(smooth[inner]) == pytest.approx(1 / np.sqrt(63), rel=0.15)


def test_correction_window_applies_to_the_network_correction_only():
    image = noisy_image()
    net = random_net()
    science = ~GEOMETRY.reference_mask
    plain = correlated_noise(image, GEOMETRY, net)
    cleaning = image - clean_flux_image(image, GEOMETRY)  # the estimate the network corrects
    smoothed = correlated_noise(image, GEOMETRY, net, correction_window=(5, 9))
    expected = cleaning + smoothed_correction(plain - cleaning, science, (5, 9))
    np.testing.assert_allclose(smoothed[science], expected[science], atol=1e-4)
    assert not np.allclose(smoothed[science], plain[science], atol=1e-2)
    fresh = ReadoutSetNet(SMALL).eval()  # no correction: the window changes nothing
    np.testing.assert_allclose(correlated_noise(image, GEOMETRY, fresh, correction_window=(5, 9))[science],
                               cleaning[science], atol=1e-4)


def test_features_are_scaled_by_the_image_noise():
    image = noisy_image()
    science = ~GEOMETRY.reference_mask
    noise_only = np.random.default_rng(5).normal(0.0, 4.0, GEOMETRY.shape)
    assert image_noise_sigma(noise_only, science) == pytest.approx(4.0, rel=0.05)
    features, _, sigma = readout_features(image * 10.0, GEOMETRY, clip=8.0)
    small, _, small_sigma = readout_features(image, GEOMETRY, clip=8.0)
    assert sigma == pytest.approx(10.0 * small_sigma, rel=1e-6)
    np.testing.assert_allclose(features[:, :2], small[:, :2], atol=1e-4)  # scaled inputs do not change


def test_example_target_is_the_exact_correlated_noise():
    example = make_example(tiny_spec(300001), GEOMETRY)
    assert example["flux"].shape == (2,) + GEOMETRY.shape
    # The oracle ramp has no correlated noise: its flux minus the truth is white and Poisson noise only.
    residual = (example["oracle"][0] - example["truth"] * 1.0)[~GEOMETRY.reference_mask]
    assert abs(residual.mean()) < 1.0
    items = training_items(example, GEOMETRY, clip=8.0)
    assert len(items) == 2 and items[0].target.shape == (4, 40, 32)
    assert np.isfinite(items[0].target).all()


def test_training_learns_and_resumes_exactly(tmp_path):
    items = []
    for seed in (300011, 300012, 300013):
        items += training_items(make_example(tiny_spec(seed), GEOMETRY), GEOMETRY, clip=8.0)
    config = FluxTrainConfig(epochs=2, steps_per_epoch=6, crop_rows=24, validation_items=2, learning_rate=3e-3)
    first = train_flux_model(items, tmp_path / "a", model_config=SMALL, config=config, geometry=GEOMETRY, progress=False)
    history = json.loads((tmp_path / "a" / "history.json").read_text())
    assert len(history) == 2 and all(np.isfinite(h["validation_loss"]) for h in history)
    # Interrupted after one epoch, then resumed: the same weights as the straight run.
    one = FluxTrainConfig(**{**config.__dict__, "epochs": 1})
    train_flux_model(items, tmp_path / "b", model_config=SMALL, config=one, geometry=GEOMETRY, progress=False)
    train_flux_model(items, tmp_path / "b", model_config=SMALL, config=config, geometry=GEOMETRY, progress=False)
    # Raw weights, their average (the model) and the optimizer state: bit for bit.
    for name in ("checkpoint/model.safetensors", "checkpoint/average.safetensors", "checkpoint/optimizer.safetensors",
                 "model.safetensors"):
        wa, wb = load_file(str(tmp_path / "a" / name)), load_file(str(tmp_path / "b" / name))
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), name
    model, spec = load_model(first)
    assert spec.architecture == "readout-set" and spec.input_layout == "flux-image/v1"
    assert spec.geometry["n_channels"] == 4


def test_save_load_round_trip(tmp_path):
    from hxrg_denoiser.models.registry import ModelSpec

    net = random_net(3)
    spec = ModelSpec("readout-set", SMALL.__dict__, GEOMETRY.to_dict(), n_reads=2, label_reads=0,
                     input_layout="flux-image/v1", name="rt")
    save_model(tmp_path / "rt.safetensors", net, spec)
    loaded, _ = load_model(tmp_path / "rt.json")
    image = noisy_image()
    np.testing.assert_allclose(correlated_noise(image, GEOMETRY, loaded), correlated_noise(image, GEOMETRY, net),
                               rtol=0, atol=1e-5)
    meta = json.loads((tmp_path / "rt.json").read_text())
    assert meta["correction_window"] == [1, 1]
    meta["correction_window"] = [4, 31]
    (tmp_path / "rt.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="correction_window.*odd"):
        load_model(tmp_path / "rt.json")
    meta["correction_window"] = [1, 1]
    meta["input_layout"] = "row-offset/read/series"
    (tmp_path / "rt.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="input layout"):
        load_model(tmp_path / "rt.json")


def test_unknown_model_name_is_a_clear_error():
    with pytest.raises(ModelFileError, match="no shipped model"):
        resolve_model("no-such-model")


def test_denoise_command_with_a_flux_image_model(tmp_path, capsys):
    from hxrg_denoiser.models.registry import ModelSpec

    spec = ModelSpec("readout-set", SMALL.__dict__, GEOMETRY.to_dict(), n_reads=2, label_reads=0,
                     input_layout="flux-image/v1", name="tiny-rs", correction_window=[5, 9])
    save_model(tmp_path / "m.safetensors", random_net(4), spec)
    cube = simulate_cube(GEOMETRY, 6, noise_preset("h4rg-lab"), scene=make_scene("echelle", GEOMETRY, seed=2).image,
                         seed=300021)
    path = write_cube(tmp_path / "cube.fits", cube)
    out = tmp_path / "flux.fits"
    # the network alone (a background kept would be added back around it)
    assert main(["denoise", str(path), "--model", str(tmp_path / "m.safetensors"), "-o", str(out), "-q",
                 "--no-keep-background"]) == 0
    assert "tiny-rs (readout-set)" in capsys.readouterr().out
    from astropy.io import fits

    with fits.open(out) as hdul:
        sci, err, scale = hdul["SCI"].data, hdul["ERR"].data, hdul[0].header["RNSCALE"]
    fitted = fit_ramp(ArrayRamp(cube), GEOMETRY, FitOptions(method="utr", refcorr="seed"))
    expected = denoise_flux_image(fitted.sci, GEOMETRY, random_net(4), correction_window=(5, 9))  # the file's window
    np.testing.assert_allclose(sci, expected, atol=1e-4)
    assert not np.allclose(sci, denoise_flux_image(fitted.sci, GEOMETRY, random_net(4)), atol=1e-3)
    # the fit's photon-noise variance, and its read-noise variance with the white read noise alone (the model
    # removed the correlated part), scaled to what the denoised image's dark pixels show
    white = fitted.provenance.read_noise_white / fitted.provenance.read_noise
    var_rnoise = white**2 * fitted.var_rnoise / fitted.errors.read_noise_scale * scale
    np.testing.assert_allclose(err, np.sqrt(fitted.var_poisson + var_rnoise), rtol=1e-4)
    assert white < 1
    assert main(["denoise", str(path), "--model", str(tmp_path / "m.safetensors"), "-o", str(out), "-q"]) == 2


def test_scene_scaled_copies_keep_the_same_target():
    """A copy with the scene scaled encodes the same correlated noise (target x sigma + cleaning estimate)."""
    example = make_example(tiny_spec(300031), GEOMETRY)
    plain, _, scaled = training_items(example, GEOMETRY, clip=8.0, scene_factors=(2.5,))
    flux = example["flux"][0]
    scene = 1.5 * example["truth"]  # reads[0] is the longest ramp: the whole scene
    totals, rounding = [], []
    for item, image in ((plain, flux), (scaled, flux + scene)):
        _, estimate, sigma = readout_features(image, GEOMETRY, clip=8.0)
        totals.append(item.target.astype(np.float64) * sigma + estimate.transpose(1, 0, 2))
        rounding.append(0.5 * sigma * np.spacing(np.abs(item.target)).astype(np.float64))  # targets are float16
    science = plain.science
    difference = np.abs(totals[0] - totals[1])[science]
    assert np.all(difference <= (rounding[0] + rounding[1])[science] + 1e-4)
    assert not np.allclose(plain.target[science], scaled.target[science], atol=0.02)  # the cleaning saw a new scene


def test_shipped_default_model_is_small_and_documented():
    shipped = shipped_models()
    assert "default" in shipped
    weights = shipped["default"]
    assert weights.stat().st_size < 20 * 2**20
    assert weights.with_suffix(".md").is_file(), "the default model ships with its model card"
    model, spec = load_model("default")
    assert spec.architecture == "readout-set" and spec.name == "default"
    assert sum(p.numel() for p in model.parameters()) <= 1_000_000
    recipe = spec.training["recipe"]
    from hxrg_denoiser.bench.suite import BENCH_SEEDS

    seeds = range(recipe["seed"], recipe["seed"] + recipe["examples"])
    assert not BENCH_SEEDS & set(seeds), "the default model was trained on bench-v1 seeds"
    assert spec.geometry["n_channels"] == 32 and spec.version


@pytest.mark.integration
def test_default_model_beats_reference_corrected_utr_on_a_fresh_exposure():
    """A simulated strip the model never saw (seed outside the recipe's): lower error than ref-corrected UTR."""
    from hxrg_denoiser.bench.suite import bench_geometry

    geometry = bench_geometry(72)
    scene = make_scene("echelle", geometry, seed=424242).image
    cube = simulate_cube(geometry, 30, noise_preset("h4rg-lab"), scene=scene, seed=424242)
    ramp = ArrayRamp(cube)
    model, spec = load_model("default")
    from hxrg_denoiser.denoise.api import denoise_ramp

    output = denoise_ramp(ramp, model, spec, geometry)
    denoised = output.sci
    reference = fit_ramp(ramp, geometry, FitOptions(method="utr", refcorr="seed")).sci
    science = ~geometry.reference_mask
    rms = lambda image: float(np.sqrt(np.mean((image - scene)[science] ** 2)))  # noqa: E731
    assert rms(denoised) < 0.95 * rms(reference)
    # its errors near light are more correlated from row to row than on its dark pixels (RNLCORn)
    near_light, dark = output.errors.read_noise_lit_correlation, output.errors.read_noise_correlation
    assert spec.lit_covariance_fraction > 0 and all(lit > rho for lit, rho in zip(near_light, dark))


def test_denoise_takes_the_preset_the_file_names(tmp_path):
    """A simulated jwst-h2rg strip records GEOMETRY; denoise takes it, as fit does, with no --geometry."""
    from astropy.io import fits

    sim = tmp_path / "sim"
    assert main(["simulate", "science", "--geometry", "jwst-h2rg", "--rows", "64", "--reads", "4", "--noise", "white",
                 "--scene", "flat", "-o", str(sim), "-q"]) == 0
    out = tmp_path / "d.fits"
    assert main(["denoise", str(sim / "cube.fits"), "-o", str(out), "-q"]) == 0
    assert fits.getheader(out)["GEOMETRY"] == "jwst-h2rg"


def test_scenes_recipe_draws_imaging_scenes_and_detector_effects_outside_the_bench():
    from hxrg_denoiser.simulate.held_out import BENCH_V3_FAMILIES
    from hxrg_denoiser.training.readout_set_examples import scene_example_specs

    specs = scene_example_specs(200, 500000)
    assert specs == scene_example_specs(200, 500000)  # one seed, one draw
    kinds = {s.scene for s in specs}
    assert {"imaging", "nebula", "stars-moffat", "echelle"} <= kinds and all(s.first_read == "auto" for s in specs)
    drawn = {name: max(s.noise_changes.get(name, 0.0) for s in specs)
             for name in ("reset_anomaly", "ipc", "nonlinearity", "hot_pixel_fraction", "rts_fraction")}
    assert all(value > 0 for value in drawn.values())
    for family in BENCH_V3_FAMILIES.values():  # bench-v3's detector effects lie beyond every level drawn
        for name, value in family[2]:
            if name in drawn:
                assert value > drawn[name], (name, value)


def test_a_transient_example_fits_image_and_oracle_on_the_same_reads():
    import dataclasses

    spec = dataclasses.replace(tiny_spec(300041, reads=(12, 6)), noise_changes={"reset_anomaly": 60.0, "reset_tau": 1.0},
                               first_read="auto")
    science = ~GEOMETRY.reference_mask
    example = make_example(spec, GEOMETRY)
    every_read = make_example(dataclasses.replace(spec, first_read=0), GEOMETRY)
    bias = {name: float(np.median((e["oracle"][0] - e["truth"])[science])) for name, e in
            (("auto", example), ("every", every_read))}
    assert bias["every"] < 2 * bias["auto"] < 0  # the oracle too left out the transient's first reads


def test_items_with_the_background_kept_see_the_image_less_its_background():
    example = make_example(tiny_spec(300051), GEOMETRY)
    x = np.arange(GEOMETRY.n_cols)[None, :] / GEOMETRY.n_cols
    example["flux"] = example["flux"] + (300.0 * x * ~GEOMETRY.reference_mask).astype(np.float32)
    plain = training_items(example, GEOMETRY, clip=8.0)
    kept = training_items(example, GEOMETRY, clip=8.0, keep_background=True)
    assert not np.allclose(plain[0].features.astype(float), kept[0].features.astype(float), atol=0.05)


def test_a_pixel_the_fit_could_not_measure_teaches_nothing():
    """A NaN in an example's fitted image (a pixel with too few usable reads) is left out of the loss: its target
    is 0 and it is not a science pixel of the item (it made the loss NaN and the weights with it)."""
    example = make_example(tiny_spec(300001), GEOMETRY)
    example["flux"] = example["flux"].copy()
    example["flux"][0, 20, 60] = np.nan
    item = training_items(example, GEOMETRY, clip=8.0)[0]
    assert np.isfinite(item.target.astype(np.float32)).all()
    assert item.science.sum() == (~GEOMETRY.reference_mask).sum() - 1
    clean = training_items(make_example(tiny_spec(300001), GEOMETRY), GEOMETRY, clip=8.0)[0]
    assert clean.science.sum() == (~GEOMETRY.reference_mask).sum()
