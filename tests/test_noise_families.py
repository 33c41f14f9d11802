"""The noise families of bench-v2: the project's simulator extended, and a second generator after NGHXRG."""

import hashlib

import numpy as np
import pytest
from scipy.signal import welch

from hxrg_denoiser.geometry import ReadoutGeometry, preset
from hxrg_denoiser.simulate import make_scene, noise_preset, simulate_cube
from hxrg_denoiser.simulate.nghxrg import NGHXRG_PRESETS, NGHXRGLevels, nghxrg_dark, nghxrg_template
from hxrg_denoiser.simulate.noise import DarkNoise, NoiseModel, PinkNoise, picture_frame_template

GEOMETRY = ReadoutGeometry("fam", 64, 256, 4)


def test_bench_v1_noise_is_unchanged_bit_for_bit():
    """The new settings default to the old behaviour: bench-v1 cubes stay what they were (sha1 recorded before)."""
    g = preset("nirps-h4rg", n_rows=40)
    expected = {
        "nirspec": ("5dd1a43daa684e76aa6364b06e31100d7060853d", "89f3c158a744cf11c54b196a24d5ce0e54a4a0e6"),
        "h4rg-lab": ("e9b3bd42dc61ed9c956fe115a0c4c261ef6ca8c9", "e83a9024575309877f69ab7d4b2b30dd7bdc1252"),
    }
    for name, (cube_sha, oracle_sha) in expected.items():
        scene = make_scene("echelle", g, seed=3).image
        noise = noise_preset(name).replace(cosmic_ray_rate=5.0, drift=0.3, pedestal=0.5)
        cube, oracle = simulate_cube(g, 7, noise, scene=scene, seed=9001, oracle=True)
        assert hashlib.sha1(cube.tobytes()).hexdigest() == cube_sha
        assert hashlib.sha1(oracle.tobytes()).hexdigest() == oracle_sha


def _correlated(model: NoiseModel, read: int = 3) -> np.ndarray:
    return DarkNoise(GEOMETRY, 5, model, seed=4).correlated(read)


def test_reference_coupling_scales_only_the_reference_pixels():
    base = NoiseModel(correlated_pink=3.0, uncorrelated_pink=1.0, acn=1.0)
    plain, weak = _correlated(base), _correlated(base.replace(ref_coupling=0.7))
    ref = GEOMETRY.reference_mask
    np.testing.assert_array_equal(weak[~ref], plain[~ref])
    np.testing.assert_allclose(weak[ref], 0.7 * plain[ref], rtol=1e-5, atol=1e-6)


def test_reference_pixels_own_pink_noise():
    own = _correlated(NoiseModel(ref_pink=2.0))
    ref = GEOMETRY.reference_mask
    assert np.all(own[~ref] == 0.0)
    assert 1.0 < own[ref].std() < 4.0


@pytest.mark.parametrize("gain", [0.0, 5.0, 20.0])
def test_picture_frame_seen_by_the_reference_pixels_times_a_gain(gain):
    base = NoiseModel(picture_frame=1.0, picture_frame_shape="corner")
    plain, scaled = _correlated(base), _correlated(base.replace(picture_frame_ref_gain=gain))
    ref = GEOMETRY.reference_mask
    np.testing.assert_array_equal(scaled[~ref], plain[~ref])
    np.testing.assert_allclose(scaled[ref], gain * plain[ref], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", ["exp", "linear", "corner", "bowl", "stripes"])
def test_picture_frame_templates_have_zero_mean_and_unit_rms(shape):
    template = picture_frame_template(GEOMETRY, shape)
    assert template.mean() == pytest.approx(0.0, abs=1e-9)
    assert template.std() == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("alpha", [0.7, 1.3])
def test_pink_noise_spectral_index(alpha):
    g = ReadoutGeometry("long", 512, 256, 4)
    stream = PinkNoise(g, 2, 1, 1.0, seed=1, component="correlated_pink", alpha=alpha).fast_part(0)[0]
    f, p = welch(stream, nperseg=8192)
    band = (f > 1e-3) & (f < 1e-1)
    slope = np.polyfit(np.log(f[band]), np.log(p[band]), 1)[0]
    assert slope == pytest.approx(-alpha, abs=0.15)


def test_pink_noise_drawn_anew_for_each_read_has_no_slow_part():
    continuous = PinkNoise(GEOMETRY, 20, 1, 3.0, seed=2, component="correlated_pink")
    per_read = PinkNoise(GEOMETRY, 20, 1, 3.0, seed=2, component="correlated_pink", continuous=False)
    assert np.abs(continuous.slow_part(5)).max() > 0.1
    assert np.all(per_read.slow_part(5) == 0.0)
    means = np.array([per_read.frame(k).mean() for k in range(20)])
    assert np.abs(means).max() < 0.1  # each read's 1/f has no DC, nothing carries from read to read


def test_acn_forms():
    g = GEOMETRY
    forms = {form: g.to_readout_order(_correlated(NoiseModel(acn=2.0, acn_form=form), read=2))
             for form in ("pink", "even-odd", "row", "common")}
    sign = np.where(np.arange(g.channel_width) % 2 == 0, 1.0, -1.0)
    stream = DarkNoise(g, 5, NoiseModel(acn=2.0), seed=4).acn.frame(2).transpose(1, 0, 2)
    np.testing.assert_allclose(forms["pink"], stream * sign, atol=1e-5)  # one stream per channel, signs alternating
    e, o = forms["even-odd"][..., 0::2].ravel(), forms["even-odd"][..., 1::2].ravel()
    assert abs(np.corrcoef(e, o)[0, 1]) < 0.3  # independent streams
    row = forms["row"]
    np.testing.assert_allclose(row[..., 0::2], np.broadcast_to(row[..., :1], row[..., 0::2].shape), atol=1e-6)
    common = forms["common"]
    np.testing.assert_allclose(common[:, 0], common[:, 1], atol=1e-6)


def test_nghxrg_generator_follows_its_recipe():
    g = ReadoutGeometry("ng", 40, 256, 4)
    levels = NGHXRGLevels(rd_noise=0.0, c_pink=3.0, u_pink=0.0, acn=0.0, pca0_amp=0.0, pedestal=0.0, ktc=0.0,
                          bias_offset=0.0, bias_amp=0.0)
    cube, correlated = nghxrg_dark(g, 4, levels, seed=1)
    np.testing.assert_array_equal(cube, correlated)  # nothing but the correlated 1/f here
    width = g.channel_width
    # one stream for all outputs, every other output read backwards
    np.testing.assert_allclose(cube[:, :, :width], cube[:, :, width : 2 * width][:, :, ::-1], atol=1e-5)
    np.testing.assert_allclose(cube[:, :, :width], cube[:, :, 2 * width : 3 * width], atol=1e-5)
    assert cube.std() == pytest.approx(3.0, rel=0.5)


def test_nghxrg_white_noise_reference_ratio_and_oracle():
    g = ReadoutGeometry("ng", 40, 256, 4)
    levels = NGHXRGLevels(rd_noise=5.0, ref_ratio=0.2, c_pink=0.0, u_pink=0.0, acn=1.0, pca0_amp=0.5, pedestal=0.0)
    cube, correlated = nghxrg_dark(g, 6, levels, seed=2)
    white = np.diff(cube - correlated, axis=0)  # the constant bias cancels
    ref = g.reference_mask
    assert white[:, ~ref].std() == pytest.approx(5.0 * np.sqrt(2), rel=0.05)
    assert white[:, ref].std() == pytest.approx(1.0 * np.sqrt(2), rel=0.1)
    template = nghxrg_template(preset("nirps-h4rg", n_rows=264))
    assert np.median(template) == pytest.approx(0.0, abs=1e-9)
    assert np.abs(template).max() > 8.0  # edge-heavy: many robust sigmas at the edges
    assert set(NGHXRG_PRESETS) >= {"nirspec", "strong"}


def test_nghxrg_cube_does_not_depend_on_torchs_thread_count():
    """The benchmark builds its cases in worker processes with fewer threads: the same seed, the same cube."""
    import torch

    g = ReadoutGeometry("ng", 40, 256, 4)
    threads = torch.get_num_threads()
    cubes = []
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            cubes.append(nghxrg_dark(g, 4, NGHXRG_PRESETS["strong"], seed=3)[0])
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(cubes[0], cubes[1])
