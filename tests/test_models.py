import json

import numpy as np
import pytest
import torch

from hxrg_denoiser.cli import main
from hxrg_denoiser.denoise.api import denoise_ramp
from hxrg_denoiser.errors import OutputError
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.ramps import ArrayRamp
from hxrg_denoiser.models import ModelSpec, Payeur2022, Payeur2022Config, build_model, load_model, save_model
from hxrg_denoiser.models.payeur2022_ribbons import label_rows, row_ribbons, stack_neighbours
from hxrg_denoiser.simulate import make_scene, noise_preset, simulate_cube
from hxrg_denoiser.training import RibbonSampler, TrainConfig, train

GEOMETRY = ReadoutGeometry("tiny", 48, 64, 4)  # 4 channels of 16 columns, butterfly
N_READS = 8
TINY = dict(n_reads=6, n_channels=4, positions=16, gru_units=12, conv_filters=4)


def tiny_spec(**training) -> ModelSpec:
    return ModelSpec("payeur2022", Payeur2022Config(**TINY).to_dict(), GEOMETRY.to_dict(), n_reads=6,
                     label_reads=N_READS, name="tiny", training=training)


def tiny_sampler(seed: int = 3) -> RibbonSampler:
    darks = [ArrayRamp(simulate_cube(GEOMETRY, N_READS, noise_preset("h4rg-lab"), seed=seed + i)) for i in range(2)]
    scenes = [make_scene("echelle", GEOMETRY, seed=seed).image]
    return RibbonSampler(darks, scenes, GEOMETRY, n_reads=6)


def test_published_parameter_count():
    assert sum(p.numel() for p in Payeur2022().parameters()) == 15_087_489


def test_models_command_lists_parameter_count(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "15,087,489" in out
    assert "nirps-h4rg: 32 x 128" in out  # the shipped default's readout
    assert "bench-v2" in out  # and the figures measured when it was shipped


def test_ribbons_put_every_pixel_where_the_guide_says():
    reads, rows = 5, 3
    cube = np.zeros((reads, rows, GEOMETRY.n_cols), np.float32)
    for k in range(reads):  # value encodes read, row and column
        cube[k] = (k * 1000 + np.arange(rows)[:, None] * 100000 + np.arange(GEOMETRY.n_cols)[None, :]) * (k % 2 * 2 - 1)
    ribbons = row_ribbons(cube, GEOMETRY, reads)
    assert ribbons.shape == (rows, 16, reads, 4 + 8)
    raw = cube - cube.mean(axis=0)  # every series is mean-subtracted over reads
    # channel 1 is reversed: readout step 0 of channel 1 is image column 31
    np.testing.assert_allclose(ribbons[2, 0, :, 1], raw[:, 2, 31])
    np.testing.assert_allclose(ribbons[0, 5, :, 0], raw[:, 0, 5])
    np.testing.assert_allclose(ribbons[1, 3, :, 2], raw[:, 1, 32 + 3])
    # the 8 side reference columns of the row, the same at every step
    for step in (0, 15):
        np.testing.assert_allclose(ribbons[1, step, :, 4:], raw[:, 1, [0, 1, 2, 3, 60, 61, 62, 63]])
    inputs = stack_neighbours(ribbons, np.array([1]), 0.5)
    assert inputs.shape == (1, 16, reads * 12 * 3)
    np.testing.assert_allclose(inputs[0, 0].reshape(3, reads, 12)[0], ribbons[0, 0] * 0.5)
    np.testing.assert_allclose(inputs[0, 7].reshape(3, reads, 12)[2], ribbons[2, 7] * 0.5)
    labels = label_rows(np.arange(2 * 64, dtype=np.float32).reshape(2, 64), GEOMETRY, 1.0)
    assert labels.shape == (2, 16, 4) and labels[0, 0, 1] == 31 and labels[1, 2, 0] == 64 + 2


def test_outlier_series_take_the_next_channel():
    cube = np.random.default_rng(0).normal(0, 1, (10, 1, 64)).astype(np.float32)
    cube[6:, 0, 20] += 500.0  # a cosmic ray in channel 1, step 11 (reversed channel)
    ribbons = row_ribbons(cube, GEOMETRY, 10)
    np.testing.assert_array_equal(ribbons[0, 11, :, 1], ribbons[0, 11, :, 2])


def test_sampler_is_deterministic_and_keeps_validation_apart():
    sampler = tiny_sampler()
    a = sampler.batch(np.random.default_rng(5), 3)
    b = sampler.batch(np.random.default_rng(5), 3)
    np.testing.assert_array_equal(a.inputs, b.inputs)
    assert a.inputs.shape == (3, 16, 6 * 12 * 3) and a.labels.shape == (3, 16, 4)
    assert not set(sampler.rows["train"]) & set(sampler.rows["validation"])
    assert sampler.dark_split == {"train": [0], "validation": [1]}


def _config(**changes) -> TrainConfig:
    base = dict(epochs=2, steps_per_epoch=4, batch_size=4, validation_samples=4, seed=11, device="cpu", checkpoint_every=2)
    return TrainConfig(**{**base, **changes})


@pytest.mark.slow
def test_tiny_model_overfits_a_tiny_set():
    torch.manual_seed(0)
    sampler = tiny_sampler()
    batch = sampler.batch(np.random.default_rng(1), 8)
    model = build_model(tiny_spec()).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    inputs, labels = torch.from_numpy(batch.inputs), torch.from_numpy(batch.labels)
    losses = []
    for _ in range(300):
        loss = torch.mean((model(inputs) - labels) ** 4)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10


def test_checkpoint_resume_gives_identical_model(tmp_path):
    sampler = tiny_sampler()
    straight = train(sampler, tiny_spec(), _config(), tmp_path / "a", progress=False)
    # the same run, stopped after epoch 1 and resumed
    train(sampler, tiny_spec(), _config(epochs=1), tmp_path / "b", progress=False)
    with pytest.raises(OutputError, match="pass --resume"):
        train(sampler, tiny_spec(), _config(), tmp_path / "b", progress=False)
    resumed = train(sampler, tiny_spec(), _config(), tmp_path / "b", resume=True, progress=False)
    assert [h["train_loss"] for h in resumed["history"]] == [h["train_loss"] for h in straight["history"]]
    model_a, _ = load_model(tmp_path / "a" / "checkpoint" / ".." / "model.safetensors")
    model_b, spec_b = load_model(tmp_path / "b")
    for (name, pa), pb in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0, msg=name)
    assert (tmp_path / "b" / "loss.png").exists()
    assert json.loads((tmp_path / "b" / "model.json").read_text())["n_reads"] == 6
    assert not list((tmp_path / "b").glob("*.pt")) and not list((tmp_path / "b").glob("*.pkl"))


def test_save_load_round_trip_gives_identical_predictions(tmp_path):
    model = build_model(tiny_spec()).eval()
    path = save_model(tmp_path / "m.safetensors", model, tiny_spec())
    loaded, spec = load_model(path)
    x = torch.randn(2, 16, 6 * 12 * 3)
    with torch.no_grad():
        torch.testing.assert_close(model(x), loaded(x), rtol=0, atol=0)
    assert spec == tiny_spec()


def test_inference_is_independent_of_strip_and_batch_size():
    torch.manual_seed(1)
    model = build_model(tiny_spec()).eval()
    scene = make_scene("echelle", GEOMETRY, seed=2).image
    cube = simulate_cube(GEOMETRY, N_READS, noise_preset("nirspec"), scene=scene, seed=4)
    images = [
        denoise_ramp(ArrayRamp(cube), model, tiny_spec(), GEOMETRY, strip_rows=s, batch_rows=b, device="cpu")
        for s, b in ((48, 64), (7, 3), (1, 1))
    ]
    results = [image.sci for image in images]
    science = ~GEOMETRY.reference_mask
    assert np.isfinite(results[0][science]).all() and np.isnan(results[0][GEOMETRY.reference_mask]).all()
    # errors where there is a flux: photon noise of the flux and the white read noise of the reads taken
    err = images[0].err
    assert np.isfinite(err[science]).all() and (err[science] > 0).all() and np.isnan(err[~science]).all()
    np.testing.assert_allclose(err**2, images[0].var_poisson + images[0].var_rnoise, rtol=1e-5)
    assert images[0].provenance.read_noise > 0
    for other in images[1:]:
        np.testing.assert_allclose(other.sci, results[0], rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(other.err, err, rtol=1e-4, atol=1e-4)


def test_denoise_refuses_a_geometry_the_model_was_not_trained_for(tmp_path):
    save_model(tmp_path / "m.safetensors", build_model(tiny_spec()), tiny_spec())
    cube = np.zeros((N_READS, 32, 64), np.float32)
    from conftest import write_cube

    path = write_cube(tmp_path / "c.fits", cube)
    code = main(["denoise", str(path), "--model", str(tmp_path / "m.safetensors"), "-o", str(tmp_path / "o.fits"),
                 "--channels", "2", "-q"])
    assert code == 2 and not (tmp_path / "o.fits").exists()


def test_outputs_record_which_weights_made_them(tmp_path):
    """The model's name is not enough (a trained model may take any name): the output names the model as
    asked for and the SHA-256 of its weights, which the model's JSON never holds."""
    import hashlib
    import json

    from astropy.io import fits
    from conftest import noisy_ramp, write_small_model

    from hxrg_denoiser.cli.main import main
    from hxrg_denoiser.geometry import ReadoutGeometry
    from hxrg_denoiser.models.registry import load_model

    geometry = ReadoutGeometry("t", 32, 128, 4)
    folder = write_small_model(tmp_path / "mine", geometry)
    cube, _ = noisy_ramp(geometry.shape, 6, seed=1)
    fits.PrimaryHDU(cube).writeto(tmp_path / "cube.fits")
    out = tmp_path / "out.fits"
    assert main(["denoise", str(tmp_path / "cube.fits"), "-o", str(out), "--model", str(folder), "--channels", "4",
                 "-q"]) == 0
    expected = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    header = fits.getheader(out)
    assert header["MODELSHA"] == expected and header["MODELSRC"] == str(folder)
    _, spec = load_model(folder)
    assert spec.weights_sha256 == expected
    assert "weights_sha256" not in json.loads(spec.to_json()) and "source" not in json.loads(spec.to_json())
