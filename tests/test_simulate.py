import numpy as np
import pytest
from astropy.io import fits

from hxrg_denoiser.cli import main
from hxrg_denoiser.fitting import FitOptions, fit_cube
from hxrg_denoiser.geometry import ReadoutGeometry, preset
from hxrg_denoiser.io.ramps import open_ramp
from hxrg_denoiser.simulate import (
    DarkNoise,
    NoiseModel,
    PinkNoise,
    echelle_scene,
    flat_field,
    make_scene,
    noise_preset,
    scale_scene,
    simulate_cube,
)

GEOMETRY = preset("h2rg-32", n_rows=128)  # 32 channels of 64 columns, butterfly


def _channel_streams(image: np.ndarray, geometry: ReadoutGeometry) -> np.ndarray:
    """Readout-ordered time stream of each channel, shape (n_channels, n_rows * width)."""
    return geometry.to_readout_order(image).transpose(1, 0, 2).reshape(geometry.n_channels, -1)


def _mean_offdiagonal_correlation(streams: np.ndarray) -> float:
    corr = np.corrcoef(streams)
    return float(corr[~np.eye(len(corr), dtype=bool)].mean())


def test_white_noise_has_requested_std():
    dark = DarkNoise(GEOMETRY, 4, NoiseModel(white=5.2, ref_white=0.8), seed=1)
    white = dark.white(2)
    assert np.std(white[~GEOMETRY.reference_mask]) == pytest.approx(5.2, rel=0.03)
    assert np.std(white[GEOMETRY.reference_mask]) == pytest.approx(0.8, rel=0.03)


def test_pink_noise_spectrum_has_slope_minus_one():
    geometry = preset("nirps-h4rg", n_rows=512)
    pink = PinkNoise(geometry, 10, 8, 3.0, seed=2, component="correlated_pink")
    stream = pink.fast_part(3)  # (8 streams, samples) along readout time, overheads included
    n = stream.shape[1]
    power = (np.abs(np.fft.rfft(stream, axis=1)) ** 2).mean(axis=0)[1 : n // 2]
    frequency = np.arange(1, n // 2)
    edges = np.unique(np.logspace(0, np.log10(n // 2 - 1), 40).astype(int))
    centres = np.array([frequency[a:b].mean() for a, b in zip(edges[:-1], edges[1:]) if b > a])
    binned = np.array([power[a:b].mean() for a, b in zip(edges[:-1], edges[1:]) if b > a])
    slope = np.polyfit(np.log10(centres), np.log10(binned), 1)[0]
    assert slope == pytest.approx(-1.0, abs=0.15)


def test_pink_noise_rms_and_read_to_read_continuity():
    pink = PinkNoise(GEOMETRY, 50, 64, 3.0, seed=3, component="uncorrelated_pink")
    frames = np.stack([pink.frame(k) for k in range(50)])  # (reads, streams, rows, width)
    assert np.sqrt(np.mean(frames**2)) == pytest.approx(3.0, rel=0.1)
    means = frames.mean(axis=(2, 3))  # (reads, streams): slow drift seen by each read
    lag1 = np.mean([np.corrcoef(means[:-1, s], means[1:, s])[0, 1] for s in range(64)])
    assert lag1 > 0.5  # low frequencies carry over from one read to the next


def test_common_pink_is_shared_by_channels_and_uncorrelated_is_not():
    common = DarkNoise(GEOMETRY, 3, NoiseModel(correlated_pink=3.0), seed=4).correlated(1)
    per_channel = DarkNoise(GEOMETRY, 3, NoiseModel(uncorrelated_pink=3.0), seed=4).correlated(1)
    assert _mean_offdiagonal_correlation(_channel_streams(common, GEOMETRY)) > 0.9
    assert abs(_mean_offdiagonal_correlation(_channel_streams(per_channel, GEOMETRY))) < 0.1


def test_acn_flips_sign_between_even_and_odd_columns():
    acn = DarkNoise(GEOMETRY, 3, NoiseModel(acn=2.0), seed=5).correlated(0)
    readout = GEOMETRY.to_readout_order(acn)
    even, odd = readout[..., 0::2].ravel(), readout[..., 1::2].ravel()
    assert np.corrcoef(even, odd)[0, 1] < -0.7
    # in the image, neighbouring columns are opposite too, whatever the channel direction
    assert np.corrcoef(acn[:, 8:-8:2].ravel(), acn[:, 9:-7:2].ravel())[0, 1] < -0.7
    # the flip moves the 1/f power to the Nyquist frequency; undoing it brings it back to low frequencies
    stream = readout.transpose(1, 0, 2).reshape(GEOMETRY.n_channels, -1)
    sign = np.where(np.arange(stream.shape[1]) % 2 == 0, 1.0, -1.0)
    for data, low_dominates in ((stream, False), (stream * sign, True)):
        power = (np.abs(np.fft.rfft(data, axis=1)) ** 2).mean(axis=0)[1:]
        tenth = len(power) // 10
        assert (power[:tenth].mean() > power[-tenth:].mean()) == low_dominates


def test_reference_pixels_receive_no_scene():
    scene = flat_field(GEOMETRY, level=500.0).image
    cube = simulate_cube(GEOMETRY, 5, NoiseModel(), scene=np.full(GEOMETRY.shape, 500.0, np.float32), seed=0)
    assert np.all(cube[:, GEOMETRY.reference_mask] == 0.0)
    assert np.all(cube[-1, ~GEOMETRY.reference_mask] > 100.0)
    assert np.all(scene[GEOMETRY.reference_mask] == 0.0)


def test_utr_of_noise_free_science_cube_returns_the_scene():
    scene = make_scene("echelle", GEOMETRY, seed=1)
    cube = simulate_cube(GEOMETRY, 20, NoiseModel(), scene=scene.image, seed=1, poisson=False)
    image = fit_cube(cube, GEOMETRY, FitOptions(method="utr", refcorr="none", read_noise=1.0))
    np.testing.assert_allclose(image.sci, scene.image, atol=1e-3)


def test_poisson_accumulation_has_poisson_variance():
    scene = np.full(GEOMETRY.shape, 400.0, np.float32)
    cube = simulate_cube(GEOMETRY, 4, NoiseModel(), scene=scene, seed=2)
    increments = np.diff(cube, axis=0)[:, ~GEOMETRY.reference_mask]
    assert increments.mean() == pytest.approx(100.0, rel=0.01)
    assert increments.var() == pytest.approx(100.0, rel=0.03)


def test_same_seed_is_bit_identical_and_other_seed_differs():
    model = noise_preset("h4rg-lab")
    scene = make_scene("echelle", GEOMETRY, seed=3).image
    a = simulate_cube(GEOMETRY, 3, model, scene=scene, seed=7)
    b = simulate_cube(GEOMETRY, 3, model, scene=scene, seed=7)
    c = simulate_cube(GEOMETRY, 3, model, scene=scene, seed=8)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).mean() > 1.0


def test_oracle_removes_exactly_the_correlated_noise():
    model = noise_preset("h4rg-lab")
    cube, clean = simulate_cube(GEOMETRY, 6, model, seed=9, oracle=True)
    white = simulate_cube(GEOMETRY, 6, model.replace(**{c: 0.0 for c in model.correlated_components}), seed=9)
    np.testing.assert_allclose(clean, white, atol=2e-3)
    assert np.std(cube - clean) > 3.0


def test_cosmic_rays_leave_a_lasting_jump():
    model = NoiseModel(cosmic_ray_rate=200.0, cosmic_ray_charge=3000.0)
    cube = simulate_cube(GEOMETRY, 6, model, seed=1)
    jumps = np.diff(cube, axis=0)
    assert jumps.max() > 500.0
    k, y, x = np.unravel_index(np.argmax(jumps), jumps.shape)
    assert np.all(cube[k + 1 :, y, x] == cube[k + 1, y, x])  # no noise: the charge stays


def test_scene_scaling_follows_the_reference_rules():
    raw = echelle_scene(GEOMETRY, seed=4)
    scaled = scale_scene(raw, GEOMETRY, p99=30.0)
    science = scaled.image[~GEOMETRY.reference_mask]
    assert scaled.image.max() <= 60.0 and scaled.image.min() >= 0.0
    kept = raw.image[~GEOMETRY.reference_mask] * scaled.scale <= 60.0
    assert np.percentile(raw.image[~GEOMETRY.reference_mask] * scaled.scale, 99) == pytest.approx(30.0, rel=1e-4)
    np.testing.assert_allclose(science[kept], (raw.image[~GEOMETRY.reference_mask] * scaled.scale)[kept], rtol=1e-5)
    assert len(raw.orders) >= 2


def test_star_and_flat_scenes():
    stars = make_scene("stars", GEOMETRY, seed=1).image
    assert stars.max() > 50 * np.median(stars + 1e-3)
    flat = make_scene("flat", GEOMETRY, flat_level=100.0).image
    assert flat[~GEOMETRY.reference_mask].mean() == pytest.approx(100.0, rel=0.01)


def test_cli_simulate_science_writes_cube_and_truth(tmp_path):
    out = tmp_path / "sim"
    args = ["simulate", "science", "--geometry", "h2rg-32", "--rows", "64", "--reads", "5", "--noise", "h4rg-lab",
            "--scene", "echelle", "--seed", "7", "-o", str(out), "-q"]
    assert main(args) == 0
    with fits.open(out / "cube.fits") as hdul:
        assert hdul[0].data.shape == (5, 64, 2048)
        assert hdul[0].header["NOISE"] == "h4rg-lab" and hdul[0].header["SEED"] == 7
    with fits.open(out / "truth.fits") as hdul:
        truth = hdul[0].data
    geometry = preset("h2rg-32", n_rows=64)
    expected = simulate_cube(geometry, 5, noise_preset("h4rg-lab"), scene=truth, seed=7)
    with open_ramp(out / "cube.fits") as ramp:
        np.testing.assert_array_equal(ramp.read_rows(0, 64), expected)
    assert main(args) == 2  # refuses to overwrite
    assert main(args + ["--overwrite", "--format", "reads", "--dtype", "uint16"]) == 0
    files = sorted((out / "reads").glob("*.fits"))
    assert len(files) == 5
    with open_ramp(out / "reads") as ramp:
        np.testing.assert_allclose(ramp.read_rows(0, 64), np.clip(np.round(expected), 0, 65535), atol=0)


def test_cli_simulate_dark_and_inspect(tmp_path):
    out = tmp_path / "dark"
    assert main(["simulate", "dark", "--channels", "4", "--rows", "64", "--cols", "128", "--reads", "3",
                 "--noise", "nirspec", "--set", "acn=0", "-o", str(out), "-q"]) == 0
    assert not (out / "truth.fits").exists()
    assert main(["inspect", str(out / "cube.fits"), "--channels", "4", "-o", str(tmp_path / "plots")]) == 0
    for name in ("read.png", "cds.png", "power_spectrum.png"):
        assert (tmp_path / "plots" / name).stat().st_size > 10_000


def test_cli_simulate_rejects_unknown_level(tmp_path, capsys):
    assert main(["simulate", "dark", "--rows", "16", "--reads", "2", "--set", "bogus=1", "-o", str(tmp_path / "x")]) == 2
    assert "--set 'bogus=1'" in capsys.readouterr().err
