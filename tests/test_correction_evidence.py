"""What of a correlated-noise correction is scene: the segments test, region by region."""

import numpy as np
import pytest
from astropy.io import fits

from hxrg_denoiser.classical.correction_evidence import MIN_EVIDENCE, scene_share, withheld
from hxrg_denoiser.classical.kept_background import RampSegments, segment_weights
from hxrg_denoiser.fitting import FitOptions, fit_ramp
from hxrg_denoiser.geometry import preset
from hxrg_denoiser.io.ramps import ArrayRamp
from hxrg_denoiser.simulate import make_scene, noise_preset, simulate_cube

GEOMETRY = preset("h2rg-32", n_rows=136)  # 32 channels of 64 columns; bands of 64 rows: 64, 72


def _segments(count: int = 4, reads: int = 5) -> RampSegments:
    return RampSegments([np.zeros(GEOMETRY.shape, np.float32)] * count, [reads] * count)


def test_a_correction_the_segments_repeat_is_scene_and_noise_alone_is_not():
    rng = np.random.default_rng(1)
    segments = _segments()
    # noise: each segment's correction an independent draw with its variance relative to the full ramp
    scale = 1.0 / np.sqrt(segment_weights(segments.n_reads))
    noise = [rng.normal(0.0, s, GEOMETRY.shape) for s in scale]
    full_noise = rng.normal(0.0, 1.0, GEOMETRY.shape)
    quiet = scene_share(full_noise, noise, segments, GEOMETRY)
    assert quiet.mean == 0.0 and np.all(quiet.evidence < MIN_EVIDENCE) and np.median(quiet.evidence) == pytest.approx(1.0, abs=0.1)
    # a scene taken for noise in one channel of the lower band: the same in the image and every segment
    scene = np.zeros(GEOMETRY.shape)
    scene[10:60, 64:128] = 4.0
    shared = scene_share(full_noise + scene, [n + scene for n in noise], segments, GEOMETRY)
    region = shared.evidence[0, 1]
    assert region > 10 and shared.image[30, 100] == pytest.approx(1 - MIN_EVIDENCE / region, rel=1e-5)
    assert shared.image[100, 100] == 0.0 and shared.image[30, 200] == 0.0  # other band, other channel
    assert shared.image[GEOMETRY.reference_mask].max() == 0.0
    assert shared.evidence.shape == (2, GEOMETRY.n_channels)  # the last band takes the rows left
    assert 0 < shared.mean < 0.05


def test_withheld_gives_back_the_share_of_the_correction():
    image = np.full(GEOMETRY.shape, 10.0, np.float32)
    corrected = np.full(GEOMETRY.shape, 6.0, np.float32)
    segments = _segments()
    scene = np.zeros(GEOMETRY.shape)
    scene[:64, :64] = 4.0  # the whole correction, repeated by every segment: all of it is scene
    share = scene_share(scene, [scene] * 4, segments, GEOMETRY)
    out = withheld(image, corrected, share)
    assert out[20, 20] == pytest.approx(10.0) and out[100, 100] == pytest.approx(6.0)


@pytest.mark.integration
@pytest.mark.parametrize(("scene", "noise"), [("nebula", "h4rg-lab"), ("echelle", "h4rg-lab")])
def test_clean_keeps_extended_emission_and_still_cleans_an_echelle(tmp_path, scene, noise):
    g = preset("nirps-h4rg", n_rows=136)
    truth = make_scene(scene, g, seed=21).image
    cube, oracle = simulate_cube(g, 24, noise_preset(noise), scene=truth, seed=21, oracle=True)
    ramp = ArrayRamp(cube, "x")
    seed = fit_ramp(ramp, g, FitOptions(refcorr="seed"))
    clean = fit_ramp(ramp, g, FitOptions(refcorr="seed", clean=True))
    unguarded = fit_ramp(ramp, g, FitOptions(refcorr="seed", clean=True, keep_background=False))
    science = ~g.reference_mask

    def rms(image):
        return float(np.sqrt(np.nanmean((image.sci - truth)[science] ** 2)))

    share = clean.provenance.fit.scene_share
    if scene == "nebula":  # the cleaning took the nebula for noise: its correction is given back
        assert rms(unguarded) > 2 * rms(seed) and rms(clean) < 1.02 * rms(seed) and share > 0.5
    else:
        assert rms(clean) < 0.9 * rms(seed) and share < 0.2
    path = tmp_path / "clean.fits"
    from hxrg_denoiser.io.output import write_flux_image

    write_flux_image(path, clean)
    assert fits.getheader(path, 0)["SCNSHARE"] == pytest.approx(share, abs=1e-4)
