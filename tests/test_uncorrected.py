"""The reference check without a second fit: the fit without the correction from the corrected fit's own rows.

A reference correction subtracts from each read one value per row, channel and parity of column (beyond each
pixel's read 0); a linear fit of the uncorrected reads is then the corrected fit plus the same fit of those
offsets, over the same reads, jumps and weights.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hxrg_denoiser.classical.reference import corrected_with_offsets
from hxrg_denoiser.classical.sirs_fit import fit_sirs
from hxrg_denoiser.dq import PixelFlag
from hxrg_denoiser.fitting import FitOptions, fit_cube, fit_ramp_rows, pipeline
from hxrg_denoiser.fitting.pipeline import uncorrected_image
from hxrg_denoiser.geometry import PRESETS
from hxrg_denoiser.io.ramps import ArrayRamp
from hxrg_denoiser.simulate import make_scene, noise_preset, simulate_cube
from hxrg_denoiser.strips import StripStream

STRIP = PRESETS["nirps-h4rg"].with_rows(64)


def _broadcast(offsets: np.ndarray, n_cols: int) -> np.ndarray:
    """(reads, rows, channels, 2) -> (reads, rows, cols): each pixel its channel's and parity's value."""
    width = n_cols // offsets.shape[2]
    columns = np.arange(n_cols)
    return offsets[:, :, columns // width, (columns % width) % 2]


@pytest.mark.parametrize("method", ["seed", "smoothed"])
def test_the_offsets_give_back_the_uncorrected_reads(method):
    cube = simulate_cube(STRIP, 6, noise_preset("h4rg-lab"), seed=3)
    corrected, offsets = corrected_with_offsets(cube.copy(), STRIP, method)
    assert offsets is not None and offsets.shape == (6, STRIP.n_rows, STRIP.n_channels, 2)
    np.testing.assert_allclose(corrected + _broadcast(offsets, STRIP.n_cols), cube - cube[0], atol=2e-3)
    assert corrected_with_offsets(cube.copy(), STRIP, "none")[1] is None


def test_the_calibrated_corrections_offsets_give_back_the_uncorrected_reads():
    noise = noise_preset("nirspec")
    calibration = fit_sirs([ArrayRamp(simulate_cube(STRIP, 12, noise, seed=700 + i), f"d{i}") for i in range(2)],
                           STRIP)
    cube = simulate_cube(STRIP, 8, noise, seed=3)
    stream = StripStream(ArrayRamp(cube.copy()), STRIP, refcorr="sirs", calibration=calibration, strip_rows=16)
    stream.keep_offsets = True
    for data in stream:
        rows = slice(data.strip.start, data.strip.stop)
        uncorrected = cube[:, rows] - cube[:1, rows]
        np.testing.assert_allclose(data.electrons + _broadcast(data.reference_offsets[:, data.inner], STRIP.n_cols),
                                   uncorrected, atol=2e-3)


@pytest.mark.parametrize("method", ["utr", "cds", "fowler"])
def test_uncorrected_slopes_are_the_plain_fit(method):
    """Saturated pixels, cosmic rays and a scene: every pixel without a jump in either fit has the plain fit's
    slope, to float32 rounding; up the ramp, so do nearly all the pixels with jumps (found at the same reads in
    both fits but where the correction moved a step across the threshold)."""
    scene = make_scene("echelle", STRIP, seed=2).image
    cube = simulate_cube(STRIP, 20, noise_preset("h4rg-lab").replace(cosmic_ray_rate=300.0), scene=scene * 40,
                         seed=8)
    options = FitOptions(method=method, refcorr="seed", saturation=11500.0).resolved(STRIP)
    rows = fit_ramp_rows(ArrayRamp(cube), STRIP, options, uncorrected=True)
    sci, read_offsets = uncorrected_image(rows, ArrayRamp(cube), options)
    plain = fit_cube(cube, STRIP, dataclasses.replace(options, refcorr="none"))
    jumped = ((rows.rows.dq | plain.dq) & PixelFlag.JUMP_DET) > 0
    unflagged = ~STRIP.reference_mask & ~jumped
    assert (unflagged & ((plain.dq & PixelFlag.SATURATED) > 0)).sum() > 100 and jumped.sum() > 500
    np.testing.assert_array_equal(np.isfinite(sci[unflagged]), np.isfinite(plain.sci[unflagged]))
    finite = unflagged & np.isfinite(plain.sci)
    np.testing.assert_allclose(sci[finite], plain.sci[finite], rtol=2e-6, atol=0.02)  # float32 sums of 1e4 e-
    if method == "utr":
        both = ~STRIP.reference_mask & np.isfinite(plain.sci) & np.isfinite(sci) & jumped
        assert np.mean(np.abs(sci - plain.sci)[both] < 0.02 + 2e-6 * np.abs(plain.sci[both])) > 0.9
    assert read_offsets == pytest.approx(plain.provenance.fit.read_offsets, rel=1e-6)


def test_the_optimal_weights_hold_no_uncorrected_slopes():
    cube = simulate_cube(STRIP, 8, noise_preset("h4rg-lab"), seed=8)
    options = FitOptions(refcorr="seed", weighting="optimal").resolved(STRIP)
    assert uncorrected_image(fit_ramp_rows(ArrayRamp(cube), STRIP, options, uncorrected=True), ArrayRamp(cube),
                             options) is None
    # the check then fits the plain image itself, and still decides
    assert fit_cube(cube, STRIP, dataclasses.replace(options, reference_check=True)).reference is not None


@pytest.mark.parametrize(("noise", "fits", "taken"), [
    (noise_preset("nirspec"), 1, "seed"),
    (noise_preset("h4rg-lab").replace(picture_frame=0.5, picture_frame_ref_gain=20.0, picture_frame_shape="bowl"),
     2, "none"),
])
def test_the_check_fits_the_ramp_again_only_to_take_the_plain_fit(monkeypatch, noise, fits, taken):
    calls = []
    original = pipeline.fit_ramp_rows
    monkeypatch.setattr(pipeline, "fit_ramp_rows", lambda *a, **k: calls.append(a[2].refcorr) or original(*a, **k))
    cube = simulate_cube(STRIP, 12, noise, seed=4)
    checked = fit_cube(cube, STRIP, FitOptions(refcorr="seed", reference_check=True))
    assert checked.reference.refcorr_used == taken
    assert len(calls) == fits


def test_hxrg_fit_checks_its_reference_correction_unless_told_not_to(tmp_path, caplog):
    """A frame the reference pixels see 20x: ``hxrg fit`` takes the plain fit, says so in one warning and in its
    header; ``--no-reference-check`` keeps the correction it was given."""
    from astropy.io import fits
    from conftest import write_cube

    from hxrg_denoiser.cli import main

    noise = noise_preset("h4rg-lab").replace(picture_frame=0.5, picture_frame_ref_gain=20.0, picture_frame_shape="bowl")
    cube = write_cube(tmp_path / "cube.fits", simulate_cube(STRIP, 12, noise, seed=4))
    for extra, used in (([], "none"), (["--no-reference-check"], "seed")):
        out = tmp_path / f"out{len(extra)}.fits"
        caplog.clear()
        assert main(["-q", "fit", str(cube), "-o", str(out), "--geometry", "nirps-h4rg", *extra]) == 0
        header = fits.getheader(out)
        assert header["REFCORR"] == used
        assert ("REFCHECK" in header) is (not extra)
        assert any("adds structure to the dark pixels" in r.getMessage() for r in caplog.records) is (not extra)


def test_the_check_keeps_a_correction_it_cannot_judge():
    """A 32 x 128 array of 4 channels and 6 reads: too few channel rows for a 10 % difference in the dark pixels'
    structure to mean anything, no read levels to show the plain image's global offset. Before, the check took
    the plain fit on 7 of 30 such echelle exposures, this one with 1.45x the corrected fit's pixel error."""
    from hxrg_denoiser.classical.reference_check import PREFERENCE, preference
    from hxrg_denoiser.geometry import ReadoutGeometry

    assert preference(96) < 0.72 and preference(1800) == PREFERENCE
    tiny = ReadoutGeometry("t", 32, 128, 4)
    cube, truth = simulate_cube(tiny, 6, noise_preset("h4rg-lab"), scene=make_scene("echelle", tiny, seed=9).image,
                                seed=9, oracle=True)
    inside = ~tiny.reference_mask
    exact = fit_cube(truth, tiny, FitOptions(refcorr="none")).sci

    def error(refcorr: str) -> float:
        return float(np.sqrt(np.mean((fit_cube(cube, tiny, FitOptions(refcorr=refcorr)).sci - exact)[inside] ** 2)))

    assert error("seed") < 0.75 * error("none")
    checked = fit_cube(cube, tiny, FitOptions(refcorr="seed", reference_check=True))
    assert checked.reference.refcorr_used == "seed", checked.reference.note
    assert "reads" not in checked.reference.note  # the read levels were not measured


def test_integrations_checked_apart_say_which_took_which():
    from hxrg_denoiser.fitting.integrations import combine_flux_images

    frame = noise_preset("h4rg-lab").replace(picture_frame=0.5, picture_frame_ref_gain=20.0, picture_frame_shape="bowl")
    checked = FitOptions(refcorr="seed", reference_check=True)
    images = [fit_cube(simulate_cube(STRIP, 12, noise, seed=4), STRIP, checked)
              for noise in (noise_preset("nirspec"), frame)]
    assert [image.reference.refcorr_used for image in images] == ["seed", "none"]
    combined = combine_flux_images(images)
    assert combined.reference.refcorr_used == "mixed" and combined.reference.note == "1: seed; 2: none"
    assert combine_flux_images(images[:1] * 2).reference == images[0].reference
