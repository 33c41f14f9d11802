from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from conftest import write_cube

from hxrg_denoiser.batch import cluster_client, expand_inputs, fit_exposure, plan_outputs, run_exposures
from hxrg_denoiser.cli import main
from hxrg_denoiser.fitting import FitOptions, fit_file_split, fit_ramp
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.ramps import open_ramp
from hxrg_denoiser.io.safety import read_manifest
from hxrg_denoiser.simulate import make_scene, noise_preset, simulate_cube
from hxrg_denoiser.strips import row_ranges

GEOMETRY = ReadoutGeometry("t", 64, 128, 4)
GEOMETRY_ARGS = {"name": None, "n_channels": 4, "butterfly": True}


def _cubes(folder, n=3):
    folder.mkdir()
    scene = make_scene("echelle", GEOMETRY, seed=1).image
    return [str(write_cube(folder / f"exp{i}.fits", simulate_cube(GEOMETRY, 6, noise_preset("h4rg-lab"), scene=scene,
                                                                      seed=20 + i))) for i in range(n)]


@pytest.fixture(scope="module")
def client():
    with cluster_client(workers=2) as c:
        yield c


def test_dask_matches_serial_isolates_failures_and_skips_on_rerun(tmp_path, client):
    inputs = _cubes(tmp_path / "in")
    bad = tmp_path / "in" / "exp_bad.fits"
    bad.write_bytes(b"not a fits file" * 100)
    options = FitOptions(method="utr", refcorr="seed")
    pairs = plan_outputs(expand_inputs([str(tmp_path / "in" / "exp*.fits")]), tmp_path / "out")
    results = run_exposures(pairs, fit_exposure, options, GEOMETRY_ARGS, False, client=client, progress=False)
    status = {r.input.rsplit("/", 1)[-1]: r.status for r in results}
    assert status == {"exp0.fits": "done", "exp1.fits": "done", "exp2.fits": "done", "exp_bad.fits": "failed"}
    failed = next(r for r in results if r.status == "failed")
    assert "exp_bad.fits: not a readable FITS" in failed.error
    assert not (tmp_path / "out" / "exp_bad.fits").exists()
    for source in inputs:
        with open_ramp(source) as ramp:
            serial = fit_ramp(ramp, GEOMETRY, options)
        with fits.open(tmp_path / "out" / source.rsplit("/", 1)[-1]) as hdul:
            np.testing.assert_array_equal(hdul["SCI"].data, serial.sci)
            np.testing.assert_array_equal(hdul["DQ"].data, serial.dq)
    again = run_exposures(pairs, fit_exposure, options, GEOMETRY_ARGS, False, client=client, progress=False)
    assert [r.status for r in again] == ["skipped"] * 3 + ["failed"]


@pytest.mark.parametrize("extra", [{}, {"reference_check": True}, {"reference_check": True, "clean": True}],
                         ids=["plain", "checked", "checked-clean"])
def test_split_rows_across_workers_is_bit_identical(tmp_path, client, extra):
    """With the reference check and --clean too: the split compares the images before cleaning, as the serial
    fit does (it compared the cleaned ones before)."""
    source = _cubes(tmp_path / "in", n=1)[0]
    options = FitOptions(method="utr", refcorr="seed", strip_rows=8, **extra)
    with open_ramp(source) as ramp:
        serial = fit_ramp(ramp, GEOMETRY, options)
    split = fit_file_split(source, GEOMETRY, options, client, parts=3)
    np.testing.assert_array_equal(split.sci, serial.sci)
    np.testing.assert_array_equal(split.err, serial.err)
    np.testing.assert_array_equal(split.dq, serial.dq)
    assert split.reference == serial.reference and (split.reference is not None) == ("reference_check" in extra)
    assert row_ranges(64, 3, 8) == [(0, 24), (24, 40), (40, 64)]


@pytest.mark.integration
def test_cli_many_inputs_prints_summary(tmp_path, capsys):
    _cubes(tmp_path / "in", n=2)
    out = tmp_path / "out"
    args = ["fit", str(tmp_path / "in" / "*.fits"), "-o", str(out), "--channels", "4", "--workers", "1", "-q"]
    assert main(args) == 0
    assert "2 done, 0 skipped, 0 failed" in capsys.readouterr().out
    assert main(args) == 0
    assert "0 done, 2 skipped, 0 failed" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [".hxrg-written.json", "exp0.fits", "exp1.fits"]
    assert read_manifest(out) == {"exp0.fits", "exp1.fits"}  # what --overwrite may replace


def test_denoise_split_rows_is_bit_identical(tmp_path, client):
    from hxrg_denoiser.denoise.api import denoise_file_split, denoise_ramp
    from hxrg_denoiser.models import ModelSpec, Payeur2022Config, build_model, save_model

    source = _cubes(tmp_path / "in", n=1)[0]
    config = Payeur2022Config(n_reads=6, n_channels=4, positions=32, gru_units=8, conv_filters=4)
    spec = ModelSpec("payeur2022", config.to_dict(), GEOMETRY.to_dict(), n_reads=6, label_reads=6, name="tiny")
    path = str(save_model(tmp_path / "m.safetensors", build_model(spec), spec))
    settings = {"strip_rows": 8, "batch_rows": 4, "device": "cpu"}
    from hxrg_denoiser.models import load_model

    model, spec = load_model(path)
    with open_ramp(source) as ramp:
        serial = denoise_ramp(ramp, model, spec, GEOMETRY, **settings)
    split = denoise_file_split(source, path, GEOMETRY, client, 3, **settings)
    np.testing.assert_array_equal(split.sci, serial.sci)
    np.testing.assert_array_equal(split.dq, serial.dq)


def test_denoise_split_with_a_flux_image_model_matches_serial(tmp_path, client):
    from hxrg_denoiser.denoise.api import denoise_file_split, denoise_ramp
    from hxrg_denoiser.models import ModelSpec, ReadoutSetConfig, ReadoutSetNet, load_model, save_model

    source = _cubes(tmp_path / "in", n=1)[0]
    config = ReadoutSetConfig(features=4, row_dilations=[1, 2], context=2)
    net = ReadoutSetNet(config)
    torch = pytest.importorskip("torch")
    torch.nn.init.normal_(net.head.weight, std=0.3)
    spec = ModelSpec("readout-set", config.__dict__, GEOMETRY.to_dict(), n_reads=2, label_reads=0,
                     input_layout="flux-image/v1", name="tiny-rs")
    path = str(save_model(tmp_path / "m.safetensors", net, spec))
    model, spec = load_model(path)
    settings = {"strip_rows": 8, "device": "cpu"}
    with open_ramp(source) as ramp:
        serial = denoise_ramp(ramp, model, spec, GEOMETRY, **settings)
    split = denoise_file_split(source, path, GEOMETRY, client, 3, **settings)
    # The fit is bit-identical (ERR below); the network runs on another copy of the weights: equal to float rounding.
    np.testing.assert_allclose(split.sci, serial.sci, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(split.err, serial.err)


@pytest.mark.integration
def test_batch_mistakes_are_one_line_each_and_leave_nothing(tmp_path):
    """The reads of one ramp typed one by one, a FITS file name for several outputs, a bad input among good
    ones: one line each, no Dask traceback, no folder made for nothing."""
    import subprocess
    import sys

    from conftest import write_reads

    cube = simulate_cube(GEOMETRY, 5, noise_preset("white"), seed=3)
    reads = write_reads(tmp_path / "reads", cube)
    write_cube(tmp_path / "a.fits", cube)
    write_cube(tmp_path / "b.fits", cube)
    write_cube(tmp_path / "flat.fits", cube[0])  # one 2D read
    hxrg = [sys.executable, "-c", "import sys; from hxrg_denoiser.cli import main; sys.exit(main())", "-q", "fit"]

    def run(*argv):
        return subprocess.run([*hxrg, *argv, "--channels", "4"], capture_output=True, text=True, cwd=tmp_path)

    typed = run(*sorted(str(p) for p in reads.iterdir()), "-o", "out/")
    assert typed.returncode == 2 and f"give the folder {reads}/ as one input" in typed.stderr
    named = run("a.fits", "b.fits", "-o", "x.fits")
    assert named.returncode == 2 and "-o x.fits: 2 inputs get one output each, in a folder" in named.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "x.fits").exists()
    mixed = run("a.fits", "flat.fits", "b.fits", "-o", "mixed/", "--workers", "2")
    assert mixed.returncode == 1
    assert "FAILED flat.fits: no 3D or 4D image in the file" in mixed.stdout
    assert "2 done, 0 skipped, 1 failed" in mixed.stdout
    assert "Traceback" not in mixed.stderr and "distributed" not in mixed.stderr, mixed.stderr
    assert sorted(p.name for p in (tmp_path / "mixed").iterdir()) == [".hxrg-written.json", "a.fits", "b.fits"]


def test_inputs_with_the_same_name_get_their_folders_in_the_output_name(tmp_path):
    """Every simulated exposure is OUTDIR/cube.fits: a batch of them names outputs after their folders."""
    from hxrg_denoiser.batch import output_stems
    from hxrg_denoiser.errors import OutputError

    inputs = [str(tmp_path / "dk1" / "cube.fits"), str(tmp_path / "dk2" / "cube.fits"), str(tmp_path / "b.fits")]
    for path in inputs:
        Path(path).parent.mkdir(exist_ok=True)
        Path(path).write_bytes(b"")
    pairs = plan_outputs(inputs, tmp_path / "out")
    assert [Path(out).name for _, out in pairs] == ["dk1_cube.fits", "dk2_cube.fits", "b.fits"]
    assert output_stems(["a/x/cube.fits", "b/x/cube.fits"]) == ["a_x_cube", "b_x_cube"]
    with pytest.raises(OutputError, match="would both write"):
        plan_outputs([inputs[2], inputs[2]], tmp_path / "out2")


def test_local_workers_share_the_cores(monkeypatch):
    """Each process of a local cluster fits with CPUs / workers threads (HXRG_THREADS), unless the user set it."""
    import os

    from hxrg_denoiser.threads import compute_threads

    monkeypatch.delenv("HXRG_THREADS", raising=False)
    expected = str(max(1, compute_threads() // 2))
    with cluster_client(workers=2) as client:
        seen = client.run(lambda: os.environ.get("HXRG_THREADS"))
    assert set(seen.values()) == {expected}
    assert "HXRG_THREADS" not in os.environ
