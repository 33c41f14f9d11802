"""Photometry, channel means and ERR-by-level metrics of imaging scenes, on images with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from hxrg_denoiser.bench.photometry import (
    aperture_sums,
    channel_mean_errors,
    err_calibration_by_level,
    photometry_errors,
)
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.simulate.imaging import SOURCE_DTYPE

GEOMETRY = ReadoutGeometry("phot", 128, 256, 4)


def _sources(xy: list[tuple[float, float]], flux: float = 500.0) -> np.ndarray:
    sources = np.zeros(len(xy), SOURCE_DTYPE)
    sources["x"], sources["y"] = zip(*xy)
    sources["flux"] = flux
    return sources


def test_an_aperture_sums_its_pixels_and_the_annulus_takes_a_flat_background_out():
    image = np.full((64, 64), 7.0)
    image[30:34, 30:34] += 25.0  # 400 e- in a 4 x 4 block, inside a radius-4 circle around (32, 32)
    sums = aperture_sums(image, np.array([32.0]), np.array([32.0]), 4.0, (8.0, 12.0))
    pixels = int(sums.pixels[0])
    y, x = np.mgrid[:64, :64] + 0.5
    assert pixels == int((np.hypot(x - 32, y - 32) < 4).sum())
    assert sums.raw[0] == pytest.approx(400.0 + 7.0 * pixels)
    assert sums.background[0] == 7.0 and sums.local[0] == pytest.approx(400.0)


def test_an_offset_is_a_raw_photometry_error_and_no_annulus_one():
    truth = np.zeros(GEOMETRY.shape)
    sources = _sources([(60.3, 40.2), (130.7, 80.9), (200.1, 60.5), (2.0, 2.0)])  # the last one at the edge
    estimate = truth + 3.0
    errors = photometry_errors(estimate, truth, sources, GEOMETRY, radius=4.0, annulus=(8.0, 14.0))
    assert errors is not None and errors.n == 3
    pixels = aperture_sums(truth, sources["x"][:3], sources["y"][:3], 4.0, (8.0, 14.0)).pixels
    assert errors.raw_bias == pytest.approx(3.0 * pixels.mean())
    assert errors.local_rms == pytest.approx(0.0, abs=1e-9)
    flagged = np.ones(GEOMETRY.shape, bool)
    flagged[80, 131] = False  # an unusable pixel in the second source's aperture
    assert photometry_errors(estimate, truth, sources, GEOMETRY, usable=flagged).n == 2


def test_channel_means_show_an_offset_taken_from_each_channel():
    rng = np.random.default_rng(3)
    truth = np.where(GEOMETRY.reference_mask, 0.0, 50.0 + np.linspace(0, 40, GEOMETRY.n_cols)[None, :])
    offsets = np.array([1.5, -0.5, 0.25, -1.25])
    estimate = truth + np.repeat(offsets, GEOMETRY.channel_width)[None, :] + 1e-3 * rng.standard_normal(truth.shape)
    means = channel_mean_errors(estimate, truth, GEOMETRY)
    np.testing.assert_allclose(means.errors, offsets, atol=1e-3)
    assert means.spread == pytest.approx(2.75, abs=2e-3)
    assert means.true_spread == pytest.approx(30.0, rel=0.02)  # a 40 e- ramp over 4 channels: 3 steps of 10


def test_err_is_judged_on_faint_and_on_bright_pixels_apart():
    rng = np.random.default_rng(4)
    truth = np.where(rng.uniform(size=(400, 400)) < 0.5, 10.0, 1000.0)
    sigma = np.where(truth > 100, 30.0, 5.0)
    estimate = truth + sigma * rng.standard_normal(truth.shape)
    usable = np.ones(truth.shape, bool)
    faint, bright = err_calibration_by_level(estimate, sigma, truth, usable, faint_below=100, bright_above=100)
    assert faint == pytest.approx(1.0, abs=0.02) and bright == pytest.approx(1.0, abs=0.02)
    faint, bright = err_calibration_by_level(estimate, np.full(truth.shape, 10.0), truth, usable, faint_below=100,
                                             bright_above=100)
    assert faint == pytest.approx(0.5, abs=0.02) and bright == pytest.approx(3.0, abs=0.06)  # one ERR for both: wrong
