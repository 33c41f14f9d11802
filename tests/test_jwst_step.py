"""The JWST route: the ``hxrg_ramp_fit`` stpipe step on NIRCam- and NIRSpec-oriented ramps, with the real jwst."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from hxrg_denoiser.dq import PixelFlag
from hxrg_denoiser.errors import RampInputError
from hxrg_denoiser.fitting import FitOptions
from hxrg_denoiser.geometry import preset
from hxrg_denoiser.io.orientation import check_axes, to_readout, to_science
from hxrg_denoiser.jwst import get_steps
from hxrg_denoiser.jwst.rates import RampArrays, combine_integrations, fit_integrations
from hxrg_denoiser.simulate import make_scene, noise_preset, simulate_cube

jwst = pytest.importorskip("jwst")
datamodels = pytest.importorskip("stdatamodels.jwst.datamodels")

GEOMETRY = preset("jwst-h2rg", n_rows=64)
N_GROUPS, GAIN = 10, 2.0
OFFLINE = {"STPIPE_DISABLE_CRDS_STEPPARS": "True"}


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    for key, value in OFFLINE.items():
        monkeypatch.setenv(key, value)


@pytest.mark.parametrize("fast, slow", [(1, 2), (-1, 2), (1, -2), (-1, -2), (2, 1), (-2, 1), (2, -1), (-2, -1)])
def test_readout_order_is_undone_exactly_and_puts_the_fast_axis_along_x(fast, slow):
    science = np.arange(2 * 3 * 5).reshape(2, 3, 5)
    readout = to_readout(science, fast, slow)
    np.testing.assert_array_equal(to_science(readout, fast, slow), science)
    assert readout.shape == ((2, 3, 5) if abs(fast) == 1 else (2, 5, 3))
    # the pixel read first sits at (0, 0) of the readout frame; the next one along the fast axis at (0, 1)
    step = {1: (0, 1), -1: (0, -1), 2: (1, 0), -2: (-1, 0)}[fast]
    assert readout[0, 0, 1] - readout[0, 0, 0] == step[0] * 5 + step[1]


def test_axes_that_are_not_one_and_two_are_refused():
    assert check_axes(-2, 1) == (-2, 1)
    with pytest.raises(RampInputError, match="f.fits: FASTAXIS = 1, SLOWAXIS = 1: expected"):
        check_axes(1, 1, "f.fits")
    with pytest.raises(RampInputError, match="are not axis numbers"):
        check_axes(None, 2)


def test_integrations_combine_by_inverse_variance():
    ints = {"sci": np.array([[[1.0]], [[3.0]]], np.float32), "var_poisson": np.array([[[1.0]], [[3.0]]], np.float32),
            "var_rnoise": np.array([[[1.0]], [[1.0]]], np.float32), "dq": np.array([[[4]], [[0]]], np.uint32),
            "err": np.zeros((2, 1, 1), np.float32)}
    rate = combine_integrations(ints)
    assert rate["sci"][0, 0] == pytest.approx((1 / 2 + 3 / 4) / (1 / 2 + 1 / 4))
    assert rate["var_poisson"][0, 0] == pytest.approx(1 / (1 + 1 / 3))
    assert rate["var_rnoise"][0, 0] == pytest.approx(0.5)
    assert rate["dq"][0, 0] == PixelFlag.JUMP_DET


def _readout_ints(noise="nirspec", seeds=(1, 2)):
    scene = make_scene("imaging", GEOMETRY, seed=1).image
    return scene, [simulate_cube(GEOMETRY, N_GROUPS, noise_preset(noise), scene=scene, seed=s) / GAIN for s in seeds]


def _ramp_file(folder: Path, ints, fast=-1, slow=2, saturate=None, name="jw_test_ramp.fits", refpix=False,
               jump=None):
    """A RampModel of readout-order integrations in science orientation; GROUPDQ saturated where asked
    (``((y, x), group)`` in science orientation), and a jump flagged (JUMP_DET) where asked (the same form)."""
    data = np.stack([to_science(c, fast, slow) for c in ints]).astype(np.float32)
    groupdq = np.zeros(data.shape, np.uint8)
    if saturate is not None:
        (y, x), group = saturate
        groupdq[:, group:, y, x] = 2
        data[:, group:, y, x] = 60000.0  # a plateau the fit must not use
    if jump is not None:
        (y, x), group = jump
        groupdq[:, group, y, x] |= 4
    model = datamodels.RampModel(data=data, groupdq=groupdq, pixeldq=np.zeros(data.shape[2:], np.uint32))
    m = model.meta
    m.instrument.name, m.instrument.detector = ("NIRCAM", "NRCA1") if abs(fast) == 1 else ("NIRSPEC", "NRS1")
    m.exposure.type = "NRC_IMAGE" if abs(fast) == 1 else "NRS_FIXEDSLIT"
    m.exposure.group_time, m.exposure.nframes, m.exposure.ngroups = GEOMETRY.frame_time, 1, N_GROUPS
    m.exposure.frame_time, m.exposure.groupgap, m.exposure.drop_frames1 = GEOMETRY.frame_time, 0, 0
    m.exposure.nints, m.exposure.noutputs, m.exposure.readpatt = len(ints), 4, "RAPID"
    ny, nx = data.shape[2:]
    m.subarray.name, m.subarray.xstart, m.subarray.ystart, m.subarray.xsize, m.subarray.ysize = "SUBGRISM64", 1, 1, nx, ny
    m.subarray.fastaxis, m.subarray.slowaxis = fast, slow
    m.observation.date, m.observation.time = "2026-01-01", "00:00:00"
    m.wcsinfo.v2_ref, m.wcsinfo.roll_ref, m.pointing.pa_v3 = 120.5, 33.0, 40.0
    m.cal_step.refpix = "COMPLETE" if refpix else None
    model.save(folder / name)
    for kind, values in (("gain", np.full((ny, nx), GAIN, np.float32)),
                         ("readnoise", np.full((ny, nx), 6.0 * np.sqrt(2) / GAIN, np.float32))):
        ref = (datamodels.GainModel if kind == "gain" else datamodels.ReadnoiseModel)(data=values)
        r = ref.meta
        r.instrument.name, r.instrument.detector = m.instrument.name, m.instrument.detector
        r.subarray.name, r.subarray.xstart, r.subarray.ystart, r.subarray.xsize, r.subarray.ysize = "SUBGRISM64", 1, 1, nx, ny
        ref.save(folder / f"{kind}.fits")
    return folder / name


def _step(path: Path, **options):
    from hxrg_denoiser.jwst.step import HxrgRampFitStep

    folder = path.parent
    options = {"override_saturation": "N/A", **options}
    return HxrgRampFitStep.call(str(path), override_gain=str(folder / "gain.fits"),
                                override_readnoise=str(folder / "readnoise.fits"), **options)


@pytest.mark.integration
def test_the_step_writes_a_dn_per_second_rate_and_rateints_with_the_metadata_where_jwst_reads_it(tmp_path):
    scene, ints = _readout_ints(noise="white")  # ERR's model is exact here (correlated noise: issue of ERR calibration)
    path = _ramp_file(tmp_path, ints, saturate=((30, 700), 4))
    _step(path, save_results=True, output_dir=str(tmp_path))
    rate = datamodels.ImageModel(str(tmp_path / "jw_test_rate.fits"))
    cube = datamodels.CubeModel(str(tmp_path / "jw_test_rateints.fits"))
    assert rate.meta.bunit_data == "DN/s" and cube.meta.bunit_data == "DN/s" and cube.data.shape == (2, 64, 2048)
    assert rate.meta.wcsinfo.v2_ref == 120.5 and rate.meta.pointing.pa_v3 == 40.0
    assert rate.meta.cal_step.ramp_fit == "COMPLETE" and rate.meta.ref_file.gain.name.endswith("gain.fits")
    header = fits.getheader(tmp_path / "jw_test_rate.fits")  # what made it, as hxrg fit records it
    assert header["METHOD"].startswith("utr") and header["REFCORR"] in ("seed", "none") and "JUMPTHR" in header
    assert header["RNSCALE"] == header["RNSCAL1"] and "RNSCAL2" in header and "REFCOR2" in header
    assert header["NGROUPS"] == N_GROUPS  # the schema's own, from the ramp
    assert fits.getheader(tmp_path / "jw_test_rateints.fits")["HXRGVER"] == header["HXRGVER"]
    truth = to_science(scene / (N_GROUPS * GEOMETRY.frame_time) / GAIN, -1, 2)
    good = (rate.dq & PixelFlag.DO_NOT_USE) == 0
    z = (rate.data - truth) / rate.err
    for part in (good & (truth < np.median(truth[good])), good & (truth > 3 * np.median(truth[good]))):
        assert 0.9 <= np.std(z[part]) <= 1.1, np.std(z[part])
    # GROUPDQ's saturation: flagged, and the rate is that of the groups before it
    assert rate.dq[30, 700] & PixelFlag.SATURATED
    assert np.count_nonzero(rate.dq[good] & PixelFlag.SATURATED) == 1
    assert abs(rate.data[30, 700] - truth[30, 700]) < 5 * rate.err[30, 700]


@pytest.mark.integration
def test_a_nirspec_oriented_ramp_is_cleaned_as_the_nircam_oriented_one(tmp_path):
    _, ints = _readout_ints(seeds=(3,))
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    nircam = _step(_ramp_file(tmp_path / "a", ints, fast=-1, slow=2), clean=True)
    nirspec = _step(_ramp_file(tmp_path / "b", ints, fast=2, slow=1), clean=True)
    np.testing.assert_allclose(to_readout(nirspec.data, 2, 1), to_readout(nircam.data, -1, 2), rtol=1e-5, atol=1e-5)


def test_rates_agree_with_jwst_ramp_fit_on_white_noise(tmp_path):
    from jwst.ramp_fitting import RampFitStep

    _, ints = _readout_ints(noise="white", seeds=(4,))
    path = _ramp_file(tmp_path, ints, refpix=True)
    ours = _step(path)
    step = RampFitStep(override_gain=str(tmp_path / "gain.fits"), override_readnoise=str(tmp_path / "readnoise.fits"))
    theirs, _ = step.process(str(path))  # run() would ask CRDS for the context of its reference files
    good = ((ours.dq | theirs.dq) & PixelFlag.DO_NOT_USE) == 0
    difference = (ours.data - theirs.data)[good] / theirs.err[good]
    assert abs(np.median(difference)) < 0.05 and np.std(difference) < 0.2


@pytest.mark.integration
def test_the_jumps_groupdq_flags_are_taken_where_asked(tmp_path, caplog):
    """A step of 3 sigma (of a difference, in DN) that JWST's jump step flagged and the tests here miss: taken with
    ``use_groupdq_jumps`` (the step) or ``--groupdq-jumps`` (``hxrg fit``), which fit around it and flag it."""
    from hxrg_denoiser.cli import main

    _, ints = _readout_ints(noise="white", seeds=(9,))
    y, x = 30, 700  # science orientation; in readout order the column is 2047 - x
    ints[0][5:, y, 2047 - x] += 3 * 5.0 * np.sqrt(2) / GAIN
    path = _ramp_file(tmp_path, ints, jump=((y, x), 5))
    taken, ignored = _step(path, use_groupdq_jumps=True), _step(path)
    assert taken.dq[y, x] & PixelFlag.JUMP_DET and not ignored.dq[y, x] & PixelFlag.JUMP_DET
    assert taken.data[y, x] < ignored.data[y, x]  # the step, left out of the rate
    gain = str(tmp_path / "gain.fits")
    for extra in ([], ["--groupdq-jumps"]):
        out = tmp_path / f"fit{len(extra)}.fits"
        assert main(["fit", str(path), "-o", str(out), "--geometry", "jwst-h2rg", "--gain", gain, "-q", *extra]) == 0
        with fits.open(out) as hdul:
            header, dq = hdul[0].header, hdul["DQ"].data
        assert bool(dq[y, x] & PixelFlag.JUMP_DET) == bool(extra)
        assert header.get("JUMPUPST") == (1 if extra else None)
    plain = tmp_path / "plain.fits"
    fits.PrimaryHDU(np.stack(ints[0:1])[0], header=fits.Header({"GEOMETRY": "jwst-h2rg"})).writeto(plain)
    assert main(["fit", str(plain), "-o", str(tmp_path / "p.fits"), "--groupdq-jumps", "-q"]) == 0
    assert "has no GROUPDQ: no jumps taken from it" in caplog.text


def test_a_reference_file_of_another_shape_is_one_line():
    ramp = RampArrays(np.zeros((1, 3, 8, 16), np.float32), None, None, 1, 2, 10.0, np.ones((4, 16), np.float32),
                      n_outputs=1)
    with pytest.raises(RampInputError, match=r"^GAIN: 4 x 16, the data are 8 x 16; give the reference file of"):
        fit_integrations(ramp, FitOptions())


@pytest.mark.integration
def test_strun_finds_the_step_through_its_entry_point(tmp_path):
    assert ("hxrg_denoiser.jwst.step.HxrgRampFitStep", "hxrg_ramp_fit", False) in get_steps()
    _, ints = _readout_ints(seeds=(5,))
    path = _ramp_file(tmp_path, ints[:1])
    strun = Path(sys.executable).with_name("strun")
    result = subprocess.run([str(strun), "hxrg_ramp_fit", str(path), f"--override_gain={tmp_path / 'gain.fits'}",
                             f"--override_readnoise={tmp_path / 'readnoise.fits'}", "--override_saturation=N/A",
                             f"--output_dir={tmp_path}"],
                            capture_output=True, text=True, env={**os.environ, **OFFLINE}, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    rate = datamodels.ImageModel(str(tmp_path / "jw_test_rate.fits"))
    assert rate.meta.bunit_data == "DN/s" and not (tmp_path / "jw_test_rateints.fits").exists()


def test_an_uncal_takes_its_saturation_from_the_saturation_reference(tmp_path):
    """A Level1b-like ramp (saturation not checked): the SATURATION reference's levels (DN) cut the reads; the
    pixels that reach them are flagged and fitted on the reads before."""
    scene, ints = _readout_ints(noise="white", seeds=(6,))
    level = float(np.percentile(ints[0][-1], 99.8))  # DN: the brightest 0.2 % pass it within the ramp
    clipped = [np.minimum(c, level + 40.0) for c in ints]  # the well fills a little above the level
    path = _ramp_file(tmp_path, clipped)
    reference = datamodels.SaturationModel(data=np.full((64, 2048), level, np.float32))
    r = reference.meta
    r.instrument.name, r.instrument.detector = "NIRCAM", "NRCA1"
    r.subarray.name, r.subarray.xstart, r.subarray.ystart, r.subarray.xsize, r.subarray.ysize = "SUBGRISM64", 1, 1, 2048, 64
    reference.save(tmp_path / "saturation.fits")
    rate = _step(path, override_saturation=str(tmp_path / "saturation.fits"))
    science = to_science(np.stack(ints), -1, 2)
    reached = (science >= level).any(axis=(0, 1))
    assert reached.sum() > 20
    flagged = (rate.dq & PixelFlag.SATURATED) != 0
    assert flagged[reached].mean() >= 0.95 and not flagged[~reached & ((rate.dq & PixelFlag.DO_NOT_USE) == 0)].any()
    truth = to_science(scene / (N_GROUPS * GEOMETRY.frame_time) / GAIN, -1, 2)
    usable = reached & np.isfinite(rate.data) & (rate.dq & PixelFlag.DO_NOT_USE == 0)
    assert abs(np.median(rate.data[usable] / truth[usable]) - 1) < 0.03


@pytest.mark.integration
def test_detector1_runs_with_hxrg_ramp_fit_in_place_of_ramp_fit(tmp_path):
    """JWST's Detector1 with the ramps fitted here: the other steps skipped (their reference files are not at
    hand offline), the rate and rateints saved by the pipeline as ramp_fit's would be."""
    from hxrg_denoiser.jwst.step import HxrgDetector1Pipeline, HxrgRampFitStep

    _, ints = _readout_ints(seeds=(7, 8))
    path = _ramp_file(tmp_path, ints)
    steps = {name: {"skip": True} for name in HxrgDetector1Pipeline.step_defs if name != "ramp_fit"}
    steps["ramp_fit"] = {"override_gain": str(tmp_path / "gain.fits"), "override_saturation": "N/A",
                         "override_readnoise": str(tmp_path / "readnoise.fits")}
    pipeline = HxrgDetector1Pipeline(steps=steps, output_dir=str(tmp_path), save_results=True)
    assert isinstance(pipeline.ramp_fit, HxrgRampFitStep)
    pipeline.run(str(path))
    rate = datamodels.ImageModel(str(tmp_path / "jw_test_rate.fits"))
    cube = datamodels.CubeModel(str(tmp_path / "jw_test_rateints.fits"))
    assert rate.meta.cal_step.ramp_fit == "COMPLETE" and rate.meta.bunit_data == "DN/s"
    assert cube.data.shape == (2, 64, 2048)
