"""Nothing destroyed, nothing confusing: input-safe outputs, the error boundary, signals, temporaries, checkpoints."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from conftest import write_cube, write_reads, write_small_model

from hxrg_denoiser.cli import build_parser, main
from hxrg_denoiser.dq import PixelFlag
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.safety import _HOST, sweep_stale_temporaries
from hxrg_denoiser.simulate import make_scene, noise_preset, simulate_cube

GEOMETRY = ReadoutGeometry("t", 32, 128, 4)


def _cube(seed: int = 1) -> np.ndarray:
    scene = make_scene("echelle", GEOMETRY, seed=seed).image
    return simulate_cube(GEOMETRY, 6, noise_preset("h4rg-lab"), scene=scene, seed=seed)


def _digest(path: Path) -> dict[str, bytes]:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p): p.read_bytes() for p in files}


# ---------------------------------------------------------------- the two ways to destroy input data


def test_fit_never_replaces_its_input_cube(tmp_path, capsys):
    cube = write_cube(tmp_path / "in.fits", _cube())
    before = _digest(cube)
    assert main(["fit", str(cube), "-o", str(cube), "--overwrite", "--channels", "4", "-q"]) == 2
    assert "is the input" in capsys.readouterr().err
    assert _digest(cube) == before
    assert main(["fit", str(cube), "-o", str(tmp_path / "flux.fits"), "--channels", "4", "-q"]) == 0


def test_fit_never_writes_into_its_reads_folder(tmp_path, capsys):
    reads = write_reads(tmp_path / "reads", _cube())
    before = _digest(reads)
    for output in (reads, reads / "flux.fits", reads / "read_3.fits"):
        assert main(["fit", str(reads), "-o", str(output), "--overwrite", "--channels", "4", "-q"]) == 2
        assert "input" in capsys.readouterr().err
    # batch mode, and an output folder given with a trailing slash
    cube = write_cube(tmp_path / "other.fits", _cube(2))
    assert main(["fit", str(reads), str(cube), "-o", str(reads) + "/", "--channels", "4", "-q"]) == 2
    assert main(["fit", str(reads), "-o", str(reads) + "/", "--channels", "4", "-q"]) == 2
    assert _digest(reads) == before
    # the next fit of the folder still sees its 6 reads
    assert main(["fit", str(reads), "-o", str(tmp_path / "flux.fits"), "--channels", "4", "-q"]) == 0
    with fits.open(tmp_path / "flux.fits") as hdul:
        assert hdul[0].header["NREADS"] == 6


# ---------------------------------------------------------------- file names, folders, batch mode


def test_non_ascii_input_name_is_escaped_in_the_header(tmp_path):
    cube = write_cube(tmp_path / "étoile_α.fits", _cube())
    out = tmp_path / "flux.fits"
    assert main(["fit", str(cube), "-o", str(out), "--channels", "4", "-q"]) == 0
    with fits.open(out) as hdul:
        assert hdul[0].header["INPUT"] == "\\xe9toile_\\u03b1.fits"


def test_batch_only_with_several_inputs_or_a_trailing_slash(tmp_path, capsys):
    cube = write_cube(tmp_path / "in.fits", _cube())
    (tmp_path / "existing").mkdir()
    assert main(["fit", str(cube), "-o", str(tmp_path / "existing"), "--channels", "4", "-q"]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert main(["fit", str(cube), "-o", str(tmp_path / "new") + "/", "--channels", "4", "-q"]) == 0
    assert (tmp_path / "new" / "in.fits").is_file()
    assert "1 done" in capsys.readouterr().out


def test_output_folder_is_checked_before_computing(tmp_path, monkeypatch, capsys):
    import hxrg_denoiser.fitting.pipeline as fitting

    cube = write_cube(tmp_path / "in.fits", _cube())
    called = []
    monkeypatch.setattr(fitting, "_fit_rows", lambda *a, **k: called.append(1))
    assert main(["fit", str(cube), "-o", "/proc/hxrg/out.fits", "--channels", "4", "-q"]) == 2
    assert main(["fit", str(cube), "-o", "/proc/out.fits", "--channels", "4", "-q"]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert not called


def test_the_default_reference_correction_is_seed_where_there_are_reference_pixels(tmp_path):
    cube = write_cube(tmp_path / "in.fits", _cube())
    assert main(["fit", str(cube), "-o", str(tmp_path / "a.fits"), "--channels", "4", "-q"]) == 0
    assert fits.getheader(tmp_path / "a.fits")["METHOD"] == "utr_ref_seed"
    from hxrg_denoiser.fitting import FitOptions

    assert FitOptions().resolved(ReadoutGeometry("n", 32, 128, 4, ref_border=0)).refcorr == "none"


# ---------------------------------------------------------------- the error boundary


def test_a_programming_error_keeps_its_traceback(tmp_path, monkeypatch):
    import hxrg_denoiser.fitting.pipeline as fitting

    cube = write_cube(tmp_path / "in.fits", _cube())

    def broken(*args, **kwargs):
        raise ValueError("an internal bug")

    monkeypatch.setattr(fitting, "_fit_rows", broken)
    with pytest.raises(ValueError, match="an internal bug"):
        main(["fit", str(cube), "-o", str(tmp_path / "o.fits"), "--channels", "4", "-q"])


def test_an_environment_error_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    from astropy.io.fits import HDUList

    cube = write_cube(tmp_path / "in.fits", _cube())

    def disk_full(self, path, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(HDUList, "writeto", disk_full)
    assert main(["fit", str(cube), "-o", str(tmp_path / "o.fits"), "--channels", "4", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "No space left on device" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.fits"]


def test_non_finite_model_output_is_flagged(tmp_path):
    import torch

    from hxrg_denoiser.denoise.api import denoise_ramp
    from hxrg_denoiser.io.ramps import ArrayRamp
    from hxrg_denoiser.models import ModelSpec, ReadoutSetConfig, ReadoutSetNet

    config = ReadoutSetConfig(features=4, row_dilations=[1], context=2)
    net = ReadoutSetNet(config)
    torch.nn.init.constant_(net.head.bias, float("nan"))
    spec = ModelSpec("readout-set", config.__dict__, GEOMETRY.to_dict(), n_reads=2, label_reads=0,
                     input_layout="flux-image/v1", name="broken")
    image = denoise_ramp(ArrayRamp(_cube()), net.eval(), spec, GEOMETRY, device="cpu")
    science = ~GEOMETRY.reference_mask
    flag = PixelFlag.DO_NOT_USE | PixelFlag.UNRELIABLE_SLOPE
    assert np.all(np.isnan(image.sci[science]))
    assert np.all(image.dq[science] & flag == flag)
    assert not np.any(image.dq[GEOMETRY.reference_mask] & PixelFlag.UNRELIABLE_SLOPE)


# ---------------------------------------------------------------- command-line consistency


def test_every_option_has_help_that_states_its_default():
    parser, _ = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in subparsers.items():
        for action in sub._actions:
            if action.dest in ("help",) or not action.option_strings:
                continue
            assert action.help, f"hxrg {name} {action.option_strings[0]} has no help"
            if action.option_strings[0] not in ("-v", "-q") and action.default not in (None, False):
                assert "default" in action.help, f"hxrg {name} {action.option_strings[0]}: default not stated"
    train = subparsers["train"]
    examples = next(a for a in train._actions if "--examples" in a.option_strings)
    from hxrg_denoiser.training.readout_set_recipes import RECIPES

    assert all(str(recipe.examples) in examples.help for recipe in RECIPES.values())


def test_every_command_takes_o_and_out_and_v_q_anywhere():
    parser, _ = build_parser()
    for argv in (["bench", "--suite", "bench-v1", "-o", "x"], ["demo", "--out", "x"], ["train", "-o", "x"],
                 ["fit", "c.fits", "--output", "x"], ["simulate", "dark", "--out", "x"], ["denoise", "c", "-o", "x"],
                 ["inspect", "c", "-o", "x"]):
        assert parser.parse_args(argv).output == "x"
    assert parser.parse_args(["-q", "fit", "c", "-o", "x"]).quiet
    args = parser.parse_args(["fit", "c", "-o", "x", "-v", "-q"])
    assert args.quiet and args.verbose


def test_hxrg_alone_prints_the_help(capsys):
    assert main([]) == 0
    assert "usage: hxrg" in capsys.readouterr().out


@pytest.mark.integration
def test_dask_logs_are_silent_unless_verbose(tmp_path):
    for i in range(2):
        write_cube(tmp_path / f"e{i}.fits", _cube(i))
    run = subprocess.run([sys.executable, "-m", "hxrg_denoiser.cli", "fit", str(tmp_path / "e0.fits"),
                          str(tmp_path / "e1.fits"), "-o", str(tmp_path / "out") + "/", "--channels", "4", "-q"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stderr.strip() == "", run.stderr
    assert "2 done" in run.stdout


def test_bench_models_with_the_same_name_are_labelled_by_path(tmp_path):
    import shutil

    from hxrg_denoiser.cli.bench import model_methods
    from hxrg_denoiser.models.registry import shipped_models

    shutil.copy(shipped_models()["default"], tmp_path / "default.safetensors")
    shutil.copy(shipped_models()["default"].with_suffix(".json"), tmp_path / "default.json")
    names = [m.name for m in model_methods(["default", str(tmp_path / "default.safetensors")])]
    path = str(tmp_path / "default.safetensors")
    assert names == ["default", path, "default+sirs", f"{path}+sirs"]


# ---------------------------------------------------------------- signals and temporaries


def _wait_for_temporary(folder: Path, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if any(p.name.endswith(".tmp") and not p.name.startswith(".probe.") for p in folder.glob(".*")):
            return
        assert process.poll() is None, "the command ended before writing"
        time.sleep(0.02)
    raise AssertionError("no temporary output appeared")


def _simulate_in_background(out: Path) -> subprocess.Popen:
    out.mkdir(exist_ok=True)
    return subprocess.Popen([sys.executable, "-m", "hxrg_denoiser.cli", "simulate", "dark", "--rows", "1024",
                             "--reads", "60", "-o", str(out), "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_sigterm_is_an_interruption_that_leaves_nothing(tmp_path):
    out = tmp_path / "sim"
    process = _simulate_in_background(out)
    _wait_for_temporary(out, process)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert err.strip().splitlines() == ["hxrg simulate: terminated"]
    assert list(out.iterdir()) == []


def test_temporaries_of_a_killed_run_are_swept_at_the_next_write(tmp_path):
    out = tmp_path / "sim"
    process = _simulate_in_background(out)
    _wait_for_temporary(out, process)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    left = [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert left, "SIGKILL cannot be caught: its temporary stays until the next write"
    foreign = out / f".x.fits.hxrg-otherhost-{os.getpid()}-abcdefgh.tmp"
    foreign.write_text("another host's write in progress")
    alive = out / f".y.fits.hxrg-{_HOST}-{os.getppid()}-abcdefgh.tmp"
    alive.write_text("a running process's write")
    assert main(["simulate", "dark", "--rows", "32", "--cols", "128", "--channels", "4", "--reads", "2", "-o",
                 str(out), "-q"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert not any(p.name in names for p in left)
    assert foreign.name in names and alive.name in names
    assert sweep_stale_temporaries(out) == []


# ---------------------------------------------------------------- checkpoints


def _tiny_run(out: Path, epochs: int = 1, extra: tuple[str, ...] = ()) -> int:
    from test_bad_inputs import TINY_RIBBON

    argv = ["train", *TINY_RIBBON, "-o", str(out)]
    argv[argv.index("--epochs") + 1] = str(epochs)
    return main([*argv, *extra])


def test_checkpoints_are_written_as_one_set(tmp_path, monkeypatch):
    import hxrg_denoiser.training.checkpoint as checkpoint

    run = tmp_path / "run"
    assert _tiny_run(run) == 0
    saved = _digest(run / "checkpoint")
    calls = []

    def fail_on_second(tensors, path, **kwargs):
        calls.append(path)
        if len(calls) == 2:  # the disk fills between the model and the optimizer files
            raise OSError(errno.ENOSPC, "No space left on device", path)
        return original(tensors, path, **kwargs)

    original = checkpoint.save_file
    monkeypatch.setattr(checkpoint, "save_file", fail_on_second)
    assert _tiny_run(run, epochs=2, extra=("--resume",)) == 2
    assert _digest(run / "checkpoint") == saved  # the previous checkpoint, whole
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


def test_resume_after_a_kill_between_the_two_renames(tmp_path):
    run = tmp_path / "run"
    assert _tiny_run(run) == 0
    (run / "checkpoint").rename(run / "checkpoint.previous")  # as a kill between the renames leaves it
    assert _tiny_run(run, epochs=2, extra=("--resume",)) == 0
    assert (run / "checkpoint").is_dir() and not (run / "checkpoint.previous").exists()


def test_a_readout_set_run_without_its_average_is_refused(tmp_path):
    from hxrg_denoiser.errors import CheckpointError
    from hxrg_denoiser.models.readout_set import ReadoutSetConfig
    from hxrg_denoiser.training.readout_set import FluxTrainConfig, TrainingItem, train_flux_model

    rng = np.random.default_rng(0)
    items = [TrainingItem(rng.normal(size=(4, 4, 24, 16)).astype(np.float16), rng.normal(size=(4, 24, 16)).astype(
        np.float16), np.ones((4, 24, 16), bool), np.zeros((4, 24, 16), np.float16)) for _ in range(3)]
    config = FluxTrainConfig(epochs=1, steps_per_epoch=2, crop_rows=16, validation_items=1, bf16=False)
    model_config = ReadoutSetConfig(features=4, row_dilations=[1], context=2)
    train_flux_model(items, tmp_path / "r", model_config=model_config, config=config, geometry=GEOMETRY,
                     progress=False)
    (tmp_path / "r" / "checkpoint" / "average.safetensors").unlink()
    longer = FluxTrainConfig(epochs=2, steps_per_epoch=2, crop_rows=16, validation_items=1, bf16=False)
    with pytest.raises(CheckpointError, match="average.safetensors: missing"):
        train_flux_model(items, tmp_path / "r", model_config=model_config, config=longer, geometry=GEOMETRY,
                         progress=False)


# ---------------------------------------------------------------- progress


@pytest.mark.integration
def test_progress_bars_say_which_method_runs_and_quiet_silences_them(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path / "d"), "--rows", "24", "--reads", "4"]) == 0
    err = capsys.readouterr().err
    for label in ("utr_ref_seed_clean", "fit for default", "denoise default", "oracle"):
        assert label in err, label
    # -q silences every bar (the same switch for every command; a fit is quicker to run than the demo)
    geometry = ReadoutGeometry("q", 40, 64, 4)
    cube = write_cube(tmp_path / "cube.fits", simulate_cube(geometry, 5, noise_preset("nirspec"), seed=5))
    assert main(["fit", str(cube), "-o", str(tmp_path / "f.fits"), "--channels", "4", "--strip-rows", "8"]) == 0
    assert "fit utr" in capsys.readouterr().err
    assert main(["fit", str(cube), "-o", str(tmp_path / "g.fits"), "--channels", "4", "--strip-rows", "8", "-q"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.integration
def test_quiet_training_prints_no_bar(tmp_path, capsys):
    from test_readout_set import tiny_spec

    from hxrg_denoiser.training.readout_set_examples import build_examples

    assert _tiny_run(tmp_path / "run") == 0  # -q: simulated darks, epochs
    assert capsys.readouterr().err == ""
    build_examples(tmp_path / "ex", [tiny_spec(300001)], progress=False)
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------- side inputs and folder outputs


def _maps(d: Path) -> dict[str, Path]:
    """A FITS map for each pixel-map option, and a calibration, of GEOMETRY's shape."""
    from hxrg_denoiser.classical.sirs_fit import fit_sirs
    from hxrg_denoiser.io.ramps import ArrayRamp

    maps = {}
    for option, value in (("--gain", 1.0), ("--saturation", 1e5), ("--read-noise", 10.0), ("--bad-pixels", 0.0)):
        maps[option] = d / f"{option[2:]}.fits"
        fits.PrimaryHDU(np.full(GEOMETRY.shape, value, np.float32)).writeto(maps[option])
    maps["--calibration"] = d / "cal.fits"
    fit_sirs([ArrayRamp(_cube(5))], GEOMETRY).save(maps["--calibration"])
    return maps


def test_no_file_a_command_reads_is_ever_its_output(tmp_path, capsys):
    """The calibration, the pixel maps, the IPC kernel and the model's files are inputs too, with or without
    --overwrite."""
    cube = write_cube(tmp_path / "in.fits", _cube())
    maps = _maps(tmp_path)
    model = write_small_model(tmp_path / "mine", GEOMETRY)
    maps["--ipc"] = tmp_path / "ipc.fits"
    fits.PrimaryHDU(np.array([[0, 0.01, 0], [0.01, 0.96, 0.01], [0, 0.01, 0]])).writeto(maps["--ipc"])
    before = _digest(tmp_path)
    cases = [["fit", str(cube), option, str(path), "-o", str(path)] for option, path in maps.items()]
    cases += [["denoise", str(cube), "--model", str(model), "-o", str(model / name)]
              for name in ("model.safetensors", "model.json", "flux.fits")]
    cases += [["denoise", str(cube), "--model", str(model), "-o", str(model) + "/"],  # batch mode
              ["fit", str(cube), str(cube), "--calibration", str(maps["--calibration"]), "-o",
               str(maps["--calibration"]) + "/"],
              ["calibrate", str(cube), "-o", str(cube)]]
    for argv in cases:
        assert main([*argv, "--overwrite", "--channels", "4", "-q"]) == 2, argv
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "input" in err, (argv, err)
    assert _digest(tmp_path) == before


def test_a_folder_output_never_replaces_what_hxrg_did_not_write(tmp_path, capsys):
    out = tmp_path / "sim"
    simulate = ["simulate", "dark", "--geometry", "h2rg-32", "--rows", "16", "--reads", "3", "--format", "reads",
                "-o", str(out), "-q"]
    assert main(simulate) == 0
    assert main([*simulate, "--overwrite"]) == 0  # what hxrg wrote may be replaced
    (out / "reads" / "notes.txt").write_text("mine")
    assert main([*simulate, "--overwrite", "--seed", "3"]) == 2
    assert "notes.txt, which hxrg did not write" in capsys.readouterr().err
    assert (out / "reads" / "notes.txt").read_text() == "mine"
    # a benchmark folder holding someone else's report: refused with and without --overwrite, before any work
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "report.md").write_text("my notes")
    for extra in ([], ["--overwrite"]):
        assert main(["bench", "--suite", "bench-v1-quick", "-o", str(tmp_path / "bench"), "-q", *extra]) == 2
        assert "report.md" in capsys.readouterr().err
    assert (tmp_path / "bench" / "report.md").read_text() == "my notes"
    # batch outputs: another program's file of the same name stays; ours is replaced with --overwrite
    cube = write_cube(tmp_path / "a.fits", _cube())
    (tmp_path / "fits").mkdir()
    (tmp_path / "fits" / "a.fits").write_text("not ours")
    fit = ["fit", str(cube), "-o", str(tmp_path / "fits") + "/", "--channels", "4", "-q"]
    assert main([*fit, "--overwrite"]) == 2
    assert "was not written by hxrg" in capsys.readouterr().err
    (tmp_path / "fits" / "a.fits").unlink()
    assert main(fit) == 0 and main([*fit, "--overwrite"]) == 0
    assert "1 done" in capsys.readouterr().out


def test_a_failed_demo_leaves_nothing(tmp_path, monkeypatch, capsys):
    import hxrg_denoiser.demo as demo
    from hxrg_denoiser.errors import RampInputError

    def broken(*args, **kwargs):
        raise RampInputError("late failure")

    monkeypatch.setattr(demo, "plot_error_images", broken)
    out = tmp_path / "d"
    assert main(["demo", "-o", str(out), "--rows", "16", "--reads", "3", "--model", "none", "-q"]) == 2
    assert "late failure" in capsys.readouterr().err
    assert not out.exists()
    out.mkdir()
    (out / "mine.txt").write_text("x")
    assert main(["demo", "-o", str(out), "--rows", "16", "--reads", "3", "--model", "none", "-q"]) == 2
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]


def test_a_bare_model_name_is_always_a_shipped_model(tmp_path, monkeypatch):
    from hxrg_denoiser.errors import ModelFileError
    from hxrg_denoiser.models.registry import resolve_model, shipped_models

    monkeypatch.chdir(tmp_path)
    write_small_model(tmp_path / "default", GEOMETRY)
    write_small_model(tmp_path / "mine", GEOMETRY)
    assert resolve_model("default") == shipped_models()["default"]
    assert resolve_model("./default") == Path("default")
    with pytest.raises(ModelFileError, match=r"mine: no shipped model of that name .*given as a path, ./mine"):
        resolve_model("mine")


def test_a_model_names_no_file_outside_its_folder(tmp_path):
    import json

    from hxrg_denoiser.errors import ModelFileError
    from hxrg_denoiser.models.registry import load_model

    model = write_small_model(tmp_path / "m", GEOMETRY)
    spec = json.loads((model / "model.json").read_text())
    spec.update(refcorr="sirs", training={"recipe": {"calibration": "../../etc/passwd"}})
    (model / "model.json").write_text(json.dumps(spec))
    with pytest.raises(ModelFileError, match=r"calibration '../../etc/passwd' lies outside the model's folder"):
        load_model(model)


def test_two_trainings_never_share_a_run_folder(tmp_path, capsys):
    from hxrg_denoiser.io.safety import locked_folder

    with locked_folder(tmp_path / "run"):
        assert _tiny_run(tmp_path / "run") == 2
    assert "another hxrg command is writing this folder" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # made for the lock, removed empty


def test_a_full_disk_names_the_output(tmp_path, monkeypatch, capsys):
    cube = write_cube(tmp_path / "in.fits", _cube())

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fits.HDUList, "writeto", full)
    assert main(["fit", str(cube), "-o", str(tmp_path / "flux.fits"), "--channels", "4", "-q"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'flux.fits'}: cannot write the output (No space left on device)" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.fits"]


def test_many_reads_raise_the_open_file_limit_or_say_how(tmp_path, monkeypatch):
    import resource

    from hxrg_denoiser.errors import RampInputError
    from hxrg_denoiser.io import ramps

    asked = []
    monkeypatch.setattr(resource, "setrlimit", lambda kind, limits: asked.append(limits))
    monkeypatch.setattr(resource, "getrlimit", lambda kind: (1024, 1 << 20))
    ramps._allow_open_files(1100, tmp_path)
    assert asked == [(1100 + ramps.OPEN_FILE_MARGIN, 1 << 20)]
    monkeypatch.setattr(resource, "getrlimit", lambda kind: (1024, 1024))
    with pytest.raises(RampInputError, match=r"1100 reads are read at once.* allows 1024 \(raise it with ulimit"):
        ramps._allow_open_files(1100, tmp_path)


def test_model_weights_get_the_usual_permissions(tmp_path):
    """safetensors writes files 0600; a saved model is readable as every other output is (0666 less umask)."""
    import stat

    from hxrg_denoiser.io.safety import umask
    from hxrg_denoiser.models import load_model, save_model

    model, spec = load_model("default")
    save_model(tmp_path / "mine.safetensors", model, spec)
    for path in (tmp_path / "mine.safetensors", tmp_path / "mine.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask(), path
