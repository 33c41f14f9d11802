"""Bad inputs through the command line: one line naming the file or option, exit 2, nothing written or changed.

Every case runs ``hxrg`` on a shared folder of small inputs (good ones and
broken ones) and checks that the command fails with status 2 and a single
line matching the expected message, and that no file in the folder appeared,
disappeared or changed (inputs are never touched, outputs never left half
written).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from conftest import write_cube, write_reads, write_small_model
from safetensors.torch import load_file, save_file

from hxrg_denoiser.cli import main
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.linearity import write_linearity
from hxrg_denoiser.models.registry import shipped_models
from hxrg_denoiser.simulate import make_scene, noise_preset, simulate_cube

GEOMETRY = ReadoutGeometry("t", 32, 128, 4)
TINY_RIBBON = ["--model", "payeur2022", "--simulate-darks", "2", "--geometry", "h2rg-32", "--rows", "40", "--reads",
               "12", "--model-set", "n_reads=10", "--model-set", "gru_units=8", "--model-set", "conv_filters=4",
               "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "2", "--val-samples", "4", "--seed", "5",
               "-q"]


def _model_copy(folder: Path, change=None, weights=None) -> None:
    shipped = shipped_models()["default"]
    folder.mkdir()
    spec = json.loads(shipped.with_suffix(".json").read_text())
    if change:
        change(spec)
    (folder / "model.json").write_text(json.dumps(spec))
    shutil.copy(shipped, folder / "model.safetensors")
    if weights:
        weights(folder / "model.safetensors")


def _nan_weights(path: Path) -> None:
    tensors = load_file(str(path))
    key = sorted(tensors)[0]
    tensors[key] = tensors[key] * float("nan")
    save_file(tensors, str(path))


def _set_epoch(state: Path, epoch) -> None:
    data = json.loads(state.read_text())
    data["epoch"] = epoch
    state.write_text(json.dumps(data))


def _make_inputs(d: Path) -> None:
    cube = simulate_cube(GEOMETRY, 6, noise_preset("h4rg-lab"), seed=3)
    write_cube(d / "cube.fits", cube)
    write_reads(d / "reads", cube, pattern="read_{:d}.fits")
    fits.PrimaryHDU(make_scene("flat", GEOMETRY, flat_level=20.0).image).writeto(d / "truth.fits")
    fits.PrimaryHDU(np.zeros((16, 16), np.float32)).writeto(d / "wrongshape.fits")
    fits.PrimaryHDU(np.zeros(GEOMETRY.shape, np.float32)).writeto(d / "zero.fits")
    write_cube(d / "cube4d.fits", cube[None], hdu_name="SCI")
    write_cube(d / "image2d.fits", cube[0])
    write_cube(d / "oneread.fits", cube[:1])
    nan = cube.copy()
    nan[2, 10, 20] = np.nan
    write_cube(d / "nan.fits", nan)
    blank = fits.PrimaryHDU(np.clip(cube, 0, 30000).astype(np.int16))
    blank.header["BLANK"] = -1
    blank.data[3, 12, 30] = -1
    blank.writeto(d / "blank.fits")
    (d / "notfits.fits").write_bytes(b"hello" * 2000)
    truncated = (d / "cube.fits").read_bytes()
    (d / "truncated.fits").write_bytes(truncated[: len(truncated) // 2])
    (d / "cube.fits.gz").write_bytes(b"\x1f\x8b" + b"0" * 100)
    (d / "empty").mkdir()
    mixed = write_reads(d / "mixed", cube[:3])
    fits.PrimaryHDU(np.ones((32, 64), np.float32)).writeto(mixed / "read_3.fits")
    (d / "existing").mkdir()
    (d / "out.fits").write_bytes((d / "cube.fits").read_bytes())
    (d / "plots").mkdir()
    (d / "plots" / "read.png").write_bytes(b"png")
    (d / "oldbench").mkdir()
    (d / "oldbench" / "metrics.json").write_text("{}")
    (d / "olddemo").mkdir()
    (d / "olddemo" / "report.md").write_text("demo")
    (d / "afile").write_text("a file, not a folder")
    (d / "notjson").mkdir()
    (d / "notjson" / "model.json").write_text("{")
    shutil.copy(shipped_models()["default"], d / "notjson" / "model.safetensors")
    _model_copy(d / "m_unknown", lambda s: s["config"].update(foo=1))
    _model_copy(d / "m_type", lambda s: s["config"].update(features="16"))
    _model_copy(d / "m_big", lambda s: s["config"].update(features=200000))
    _model_copy(d / "m_topkey", lambda s: s.update(bar=2))
    _model_copy(d / "m_nreads", lambda s: s.update(n_reads="x"))
    _model_copy(d / "m_geometry", lambda s: s["geometry"].update(n_channels=7))
    _model_copy(d / "m_layout", lambda s: s.update(layouts={"odd": {"n_channels": 0, "channel_width": 64,
                                                                    "ref_border": 4, "butterfly": True}}))
    _model_copy(d / "m_layout_keys", lambda s: s.update(layouts={"odd": {"n_channels": 4}}))
    _model_copy(d / "m_arch", lambda s: s.update(architecture="unet"))
    _model_copy(d / "m_truncated", weights=lambda p: p.write_bytes(p.read_bytes()[:1000]))
    _model_copy(d / "m_nan", weights=_nan_weights)
    _model_copy(d / "m_noweights", weights=lambda p: p.unlink())
    write_small_model(d / "m4", GEOMETRY)
    _model_copy(d / "m_nested")
    (d / "m_nested" / "model.json").write_text("[" * 100_000 + "]" * 100_000)
    _model_copy(d / "m_calout", lambda s: s.update(refcorr="sirs", training={"recipe": {"calibration": "../../etc/passwd"}}))
    fits.PrimaryHDU(np.full((16, 128), 1e4, np.float32)).writeto(d / "sat_small.fits")
    sat_nan = np.full((32, 128), 1e4, np.float32)
    sat_nan[3, 5] = np.nan
    fits.PrimaryHDU(sat_nan).writeto(d / "sat_nan.fits")
    write_cube(d / "dark_short.fits", cube[:4])
    write_cube(d / "dark_rows.fits", cube[:, :16])
    rate_nan = np.zeros(GEOMETRY.shape, np.float32)
    rate_nan[5, 7] = np.nan
    fits.PrimaryHDU(rate_nan).writeto(d / "rate_nan.fits")
    averaged = fits.PrimaryHDU(cube)
    averaged.header["NFRAMES"], averaged.header["GROUPGAP"] = 4, 2
    averaged.writeto(d / "dark_averaged.fits")
    write_cube(d / "dark_wide.fits", np.zeros((6, 32, 64), np.float32))
    identity = np.stack([np.zeros(GEOMETRY.shape), np.ones(GEOMETRY.shape), np.zeros(GEOMETRY.shape)]).astype(np.float32)
    write_linearity(d / "lin.fits", identity)
    lin_nan = identity.copy()
    lin_nan[2, 9, 40] = np.nan
    write_linearity(d / "lin_nan.fits", lin_nan)
    write_linearity(d / "lin_rows.fits", identity[:, :16])
    write_linearity(d / "lin_one.fits", identity[1:2])
    write_linearity(d / "lin_limit.fits", identity, header={"LINLIMIT": (-5.0, "")})
    from hxrg_denoiser.classical.sirs_fit import fit_sirs
    from hxrg_denoiser.io.ramps import ArrayRamp

    fit_sirs([ArrayRamp(cube)], GEOMETRY).save(d / "cal.fits")
    other = ReadoutGeometry("t40", 40, 128, 4)
    fit_sirs([ArrayRamp(simulate_cube(other, 6, noise_preset("nirspec"), seed=4))], other).save(d / "cal40.fits")
    write_cube(d / "cube40.fits", simulate_cube(other, 6, noise_preset("nirspec"), seed=5))
    assert main(["train", *TINY_RIBBON, "-o", str(d / "run")]) == 0
    for name, spoil in {
        "run_emptystate": lambda c: (c / "state.json").write_text(""),
        "run_epochtext": lambda c: _set_epoch(c / "state.json", "one"),
        "run_epochneg": lambda c: _set_epoch(c / "state.json", -3),
        "run_truncated": lambda c: (c / "model.safetensors").write_bytes((c / "model.safetensors").read_bytes()[:100]),
        "run_nooptimizer": lambda c: (c / "optimizer.safetensors").unlink(),
        "run_badoptimizer": lambda c: (c / "optimizer.safetensors").write_bytes(b"\0" * 64),
    }.items():
        shutil.copytree(d / "run", d / name)
        spoil(d / name / "checkpoint")


CASES: dict[str, tuple[str, str]] = {
    # darks and read ranges
    "dark-too-few-reads": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --dark {d}/dark_short.fits",
                           r"--dark .*dark_short.fits: 4 reads, the data's reads 0 to 5 need 6"),
    "dark-other-shape": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --dark {d}/dark_rows.fits",
                         r"--dark .*dark_rows.fits: reads are 16 x 128, the data are 32 x 128"),
    "dark-rate-nan": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --dark {d}/rate_nan.fits",
                      r"--dark .*rate_nan.fits: non-finite value at row 5, column 7"),
    "dark-rate-shape": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --dark {d}/wrongshape.fits",
                        r"--dark .*wrongshape.fits: map is 16 x 16, the data are 32 x 128"),
    "dark-missing": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --dark {d}/nodark.fits",
                     r"--dark .*nodark.fits: no such file"),
    "dark-not-fits": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --dark {d}/notfits.fits",
                      r"--dark .*notfits.fits: not a readable FITS"),
    "dark-averaged-otherwise": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --dark {d}/dark_averaged.fits",
                                r"--dark .*dark_averaged.fits: its groups average 4 frame\(s\) with a gap of 2"),
    "dark-onto-output": ("fit {d}/cube.fits -o {d}/zero.fits --overwrite --channels 4 --dark {d}/zero.fits",
                         r"zero.fits: is the input"),
    "dark-denoise-other-shape": ("denoise {d}/cube.fits -o {d}/o.fits --model {d}/m4 --dark {d}/dark_rows.fits",
                                 r"--dark .*dark_rows.fits: reads are 16 x 128"),
    "dark-ribbon-model": ("denoise {d}/cube.fits -o {d}/o.fits --model {d}/run --dark {d}/cube.fits",
                          r"--dark, --first-read, --last-read.* apply to flux-image models"),
    "linearity-nan": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --linearity {d}/lin_nan.fits",
                      r"--linearity .*lin_nan.fits: non-finite coefficient at row 9, column 40 \(1 science pixels\) "
                      r"that its DQ does not flag NO_LIN_CORR"),
    "linearity-other-shape": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --linearity {d}/lin_rows.fits",
                              r"--linearity .*lin_rows.fits: coefficients are 16 x 128, the data are 32 x 128"),
    "linearity-one-coefficient": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --linearity {d}/lin_one.fits",
                                  r"--linearity .*lin_one.fits: 1 coefficient per pixel, a correction needs at least 2"),
    "linearity-bad-limit": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --linearity {d}/lin_limit.fits",
                            r"--linearity .*lin_limit.fits: LINLIMIT = -5.0 is not a number > 0"),
    "linearity-missing": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --linearity {d}/nolin.fits",
                          r"--linearity .*nolin.fits: no such file"),
    "linearity-not-fits": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --linearity {d}/notfits.fits",
                           r"--linearity .*notfits.fits: not a readable FITS"),
    "linearity-no-cube": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --linearity {d}/zero.fits",
                          r"--linearity .*zero.fits: holds no coefficient cube"),
    "linearity-denoise-other-shape": ("denoise {d}/cube.fits -o {d}/o.fits --model {d}/m4 --linearity "
                                      "{d}/lin_rows.fits", r"--linearity .*lin_rows.fits: coefficients are 16 x 128"),
    "linearity-ribbon-model": ("denoise {d}/cube.fits -o {d}/o.fits --model {d}/run --linearity {d}/lin.fits",
                               r"--last-read, --linearity.* apply to flux-image models"),
    "first-read-past-end": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --first-read 9",
                            r"--first-read 9: .*cube.fits has reads 0 to 5"),
    "first-read-last": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --first-read 5",
                        r"--first-read 5: .*a flux needs two reads"),
    "last-read-past-end": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --last-read 6",
                           r"--last-read 6: .*cube.fits has reads 0 to 5"),
    "last-before-first": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --first-read 3 --last-read 2",
                          r"--last-read 2 must come after --first-read 3"),
    "first-read-word": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --first-read soon",
                        r"--first-read: expected a read index >= 0 or 'auto'"),
    "first-read-negative": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --first-read -1",
                            r"--first-read: expected a read index"),
    "superdark-one": ("superdark {d}/cube.fits -o {d}/sd.fits", r"a superdark combines at least 2"),
    "superdark-mixed": ("superdark {d}/cube.fits {d}/dark_short.fits -o {d}/sd.fits",
                        r"dark_short.fits: 4 reads of 32 x 128, .*cube.fits has 6 of 32 x 128"),
    "superdark-onto-dark": ("superdark {d}/cube.fits {d}/reads -o {d}/cube.fits --overwrite",
                            r"cube.fits: is the input"),
    # the two ways to destroy input data, and their relatives
    "fit-onto-own-cube": ("fit {d}/cube.fits -o {d}/cube.fits --overwrite --channels 4", r"cube.fits: is the input"),
    "fit-onto-reads-folder": ("fit {d}/reads -o {d}/reads --channels 4", r"reads: is the input"),
    "fit-into-reads-folder": ("fit {d}/reads -o {d}/reads/out.fits --channels 4", r"lies inside the input folder"),
    "fit-over-a-read": ("fit {d}/reads -o {d}/reads/read_3.fits --overwrite --channels 4",
                        r"read_3.fits: lies inside the input folder"),
    "batch-into-reads-folder": ("fit {d}/reads {d}/cube.fits -o {d}/reads/ --channels 4",
                                r"lies inside the input folder"),
    "batch-onto-inputs": ("fit {d}/cube.fits {d}/reads -o {d}/ --channels 4 --overwrite", r"cube.fits: is the input"),
    "slash-onto-input": ("fit {d}/cube.fits -o {d}/ --channels 4 --overwrite", r"cube.fits: is the input"),
    "denoise-onto-input": ("denoise {d}/cube.fits -o {d}/cube.fits --overwrite --channels 4", r"is the input"),
    "denoise-into-reads": ("denoise {d}/reads -o {d}/reads/x.fits --channels 4", r"lies inside the input folder"),
    "inspect-into-reads": ("inspect {d}/reads -o {d}/reads/plots --channels 4", r"lies inside the input folder"),
    "bench-into-darks": ("bench --darks {d}/reads --scene {d}/truth.fits -o {d}/reads/b --channels 4",
                         r"lies inside the input folder"),
    "simulate-onto-scene": ("simulate science --scene {d}/truth.fits --rows 32 --cols 128 --channels 4 -o {d} "
                            "--overwrite --reads 3", r"truth.fits: is the input"),
    "train-into-darks": ("train --darks {d}/reads -o {d}/reads/run --channels 4", r"lies inside the input folder"),
    # outputs that cannot be written
    "output-is-a-folder": ("fit {d}/cube.fits -o {d}/existing --channels 4", r"existing: is a folder"),
    "output-exists": ("fit {d}/cube.fits -o {d}/out.fits --channels 4", r"out.fits: output exists; pass --overwrite"),
    "output-folder-missing": ("fit {d}/cube.fits -o {d}/missing/out.fits --channels 4", r"output folder .* does not exist"),
    "output-in-proc": ("fit {d}/cube.fits -o /proc/hxrg-out.fits --channels 4", r"/proc/hxrg-out.fits: cannot write"),
    "output-name-too-long": ("fit {d}/cube.fits -o {d}/" + "n" * 252 + ".fits --channels 4", r"bytes long; the limit"),
    "simulate-out-is-file": ("simulate dark -o {d}/afile --rows 32", r"afile: is a file"),
    "simulate-output-exists": ("simulate dark -o {d} --rows 32 --cols 128 --channels 4 --reads 2",
                               r"cube.fits: output exists"),
    "inspect-out-is-file": ("inspect {d}/cube.fits -o {d}/afile --channels 4", r"afile: is a file"),
    "inspect-output-exists": ("inspect {d}/cube.fits -o {d}/plots --channels 4", r"read.png: output exists"),
    "bench-out-exists": ("bench --suite bench-v1-quick -o {d}/oldbench", r"metrics.json: output exists"),
    "bench-foreign-report": ("bench --suite bench-v1-quick -o {d}/olddemo --overwrite",
                             r"olddemo/report.md: exists and was not written by hxrg"),
    "inspect-foreign-png": ("inspect {d}/cube.fits -o {d}/plots --channels 4 --overwrite",
                            r"read.png: exists and was not written by hxrg"),
    "bench-out-is-file": ("bench --darks {d}/cube.fits --scene {d}/truth.fits -o {d}/afile --channels 4",
                          r"afile: is a file"),
    "demo-out-exists": ("demo -o {d}/olddemo --model none", r"report.md: output exists"),
    "demo-reads-one": ("demo -o {d}/dd --reads 1 --model none", r"--reads 1: the demo needs at least 2 reads"),
    "demo-seed-negative": ("demo -o {d}/dd --seed -1 --model none", r"--seed: expected an integer >= 0"),
    "fit-several-into-a-fits-name": ("fit {d}/cube.fits {d}/cube40.fits -o {d}/x.fits --channels 4",
                                     r"-o .*x.fits: 2 inputs get one output each, in a folder"),
    "fit-reads-one-by-one": ("fit {d}/reads/read_0.fits {d}/reads/read_1.fits {d}/reads/read_2.fits -o {d}/o/ "
                             "--channels 4", r"3 single reads of one folder; give the folder .*reads/ as one input"),
    "fit-keep-background-alone": ("fit {d}/cube.fits -o {d}/o.fits --no-keep-background --channels 4",
                                  r"--no-keep-background applies with --clean"),
    # side inputs are inputs: never an output, even with --overwrite
    "fit-onto-calibration": ("fit {d}/cube.fits --calibration {d}/cal.fits -o {d}/cal.fits --overwrite --channels 4",
                             r"cal.fits: is the input"),
    "fit-onto-saturation-map": ("fit {d}/cube.fits --saturation {d}/zero.fits -o {d}/zero.fits --overwrite "
                                "--channels 4", r"zero.fits: is the input"),
    "denoise-onto-model-weights": ("denoise {d}/cube.fits --model {d}/m4 -o {d}/m4/model.safetensors --overwrite",
                                   r"model.safetensors: is the input"),
    "denoise-into-model-folder": ("denoise {d}/cube.fits --model {d}/m4 -o {d}/m4/flux.fits",
                                  r"lies inside the input folder"),
    "bench-onto-model": ("bench --suite bench-v1-quick --model {d}/m4 -o {d}/m4", r"is the input"),
    # models: a bare name is a shipped model; a model's files stay in its folder
    "model-bare-name": ("denoise {d}/cube.fits --model m4 -o {d}/o.fits", r"m4: no shipped model of that name"),
    "model-nested-json": ("denoise {d}/cube.fits --model {d}/m_nested -o {d}/o.fits", r"nested too deeply"),
    "model-calibration-outside": ("denoise {d}/cube.fits --model {d}/m_calout -o {d}/o.fits",
                                  r"calibration '../../etc/passwd' lies outside the model's folder"),
    # sizes checked before any work
    "simulate-rows-over-preset": ("simulate dark --rows 100000 -o {d}/s", r"--rows 100000: preset nirps-h4rg has 4096 rows"),
    "simulate-too-big": ("simulate dark --channels 4 --rows 400000 --cols 400000 -o {d}/s",
                         r"the simulation needs about \d+\.\d GB of memory"),
    "simulate-seed-negative": ("simulate dark --rows 16 -o {d}/s --seed -1", r"--seed: expected an integer >= 0"),
    "train-seed-negative": ("train --recipe default -o {d}/r --seed -1", r"--seed: expected an integer >= 0"),
    "demo-out-is-file": ("demo -o {d}/afile --model none", r"afile: is a file"),
    "train-run-exists": ("train " + " ".join(TINY_RIBBON) + " -o {d}/run", r"run: holds a training run; pass --resume"),
    "train-reads-under-model": ("train --model payeur2022 --simulate-darks 2 --geometry h2rg-32 --rows 40 --reads 12 "
                                "-o {d}/r12", r"--reads 12: the model takes 98 reads"),
    # ramp files
    "missing-file": ("fit {d}/nothing.fits -o {d}/o.fits --channels 4", r"nothing.fits: no such file"),
    "empty-folder": ("fit {d}/empty -o {d}/o.fits --channels 4", r"empty: folder holds no FITS files"),
    "not-fits": ("fit {d}/notfits.fits -o {d}/o.fits --channels 4", r"notfits.fits: not a readable FITS"),
    "truncated": ("fit {d}/truncated.fits -o {d}/o.fits --channels 4", r"truncated.fits: truncated FITS file"),
    "compressed": ("fit {d}/cube.fits.gz -o {d}/o.fits --channels 4", r"cube.fits.gz: compressed files"),
    "2d-image": ("fit {d}/image2d.fits -o {d}/o.fits --channels 4", r"image2d.fits: no 3D or 4D image"),
    "one-read": ("fit {d}/oneread.fits -o {d}/o.fits --channels 4", r"oneread.fits: 1 read\(s\), at least 2"),
    "nan": ("fit {d}/nan.fits -o {d}/o.fits --channels 4", r"nan.fits\[PRIMARY\] \(read 2\): non-finite .* row 10"),
    "blank": ("fit {d}/blank.fits -o {d}/o.fits --channels 4", r"blank.fits\[PRIMARY\] \(read 3\): non-finite .*BLANK"),
    "mixed-shapes": ("fit {d}/mixed -o {d}/o.fits --channels 4", r"read_3.fits: read is 32 x 64 but"),
    "4d-no-integration": ("fit {d}/cube4d.fits -o {d}/o.fits --channels 4 --integration 3",
                          r"cube4d.fits: integration 3 does not exist"),
    "no-such-hdu-index": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --hdu 7", r"cube.fits: no HDU 7"),
    "no-such-hdu-name": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --hdu NOPE", r"cube.fits: no HDU 'NOPE'"),
    "denoise-nan": ("denoise {d}/nan.fits -o {d}/o.fits --model {d}/m4", r"nan.fits.*non-finite"),
    "inspect-missing": ("inspect {d}/nothing.fits -o {d}/p --channels 4", r"nothing.fits: no such file"),
    # geometry
    "channels-do-not-divide": ("fit {d}/cube.fits -o {d}/o.fits --channels 5", r"128 columns do not divide into 5"),
    "preset-mismatch": ("fit {d}/cube.fits -o {d}/o.fits --geometry nirps-h4rg", r"reads are 32 x 128 but geometry"),
    "unknown-preset": ("fit {d}/cube.fits -o {d}/o.fits --geometry h9rg", r"unknown geometry preset 'h9rg'"),
    "no-geometry": ("fit {d}/cube.fits -o {d}/o.fits", r"no single preset matches 32 x 128"),
    "no-butterfly-alone": ("fit {d}/cube.fits -o {d}/o.fits --no-butterfly", r"--no-butterfly applies with --channels"),
    "model-for-other-channels": ("denoise {d}/cube.fits -o {d}/o.fits --channels 4",
                                 r"model 'default' serves nirps-h4rg 32 x 128; h2rg-32 32 x 64; jwst-h2rg 4 x 512; "
                                 r"the data have 4 x 32 .*--channels 4 --model default -o DIR`, then pass --any-layout"),
    "split-model-geometry": ("denoise {d}/cube.fits -o {d}/o.fits --channels 4 --split 2",
                             r"the data have 4 x 32"),
    "ribbon-model-layout": ("denoise {d}/cube.fits -o {d}/o.fits --channels 8 --model {d}/run --any-layout",
                            r"the data have 8 x 16 \(channels x width\), and its architecture takes no other"),
    "unmeasured-layout-m4": ("denoise {d}/cube.fits -o {d}/o.fits --channels 8 --model {d}/m4",
                             r"serves .* 4 x 32; the data have 8 x 16 .*then pass --any-layout"),
    "model-columns": ("denoise {d}/cube.fits -o {d}/o.fits", r"reads have 128 columns, model 'default' was trained on 4096; "
                      r"give --geometry or --channels"),
    # option values
    "jump-threshold-zero": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --jump-threshold 0",
                            r"--jump-threshold: expected a finite number > 0"),
    "jump-threshold-and-off": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --jump-threshold 4 --no-jumps",
                               r"--jump-threshold and --no-jumps: give one of them"),
    "jump-neighbours-and-off": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --method cds --jump-neighbours "
                                "--no-jumps", r"--jump-neighbours and --no-jumps: give one of them"),
    "jump-cluster-negative": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --jump-cluster-threshold -1",
                              r"--jump-cluster-threshold: expected a finite number > 0"),
    "jump-cluster-and-off": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --jump-cluster-threshold 3 --no-jumps",
                             r"--jump-cluster-threshold and --no-jumps: give one of them"),
    "keep-background-ribbon-model": ("denoise {d}/cube.fits -o {d}/o.fits --model {d}/run --no-keep-background",
                                     r"--no-keep-background applies to flux-image models"),
    "jumps-ribbon-model": ("denoise {d}/cube.fits -o {d}/o.fits --model {d}/run --no-jumps",
                           r"apply to flux-image models"),
    "saturation-map-missing": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --saturation {d}/nosat.fits",
                               r"--saturation .*nosat.fits: no such file"),
    "saturation-map-shape": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --saturation {d}/sat_small.fits",
                             r"sat_small.fits: map is 16 x 128, the data are 32 x 128"),
    "saturation-map-nan": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --saturation {d}/sat_nan.fits",
                           r"sat_nan.fits: non-finite value at row 3, column 5"),
    "saturation-map-not-fits": ("denoise {d}/cube.fits -o {d}/o.fits --model {d}/m4 --saturation {d}/notfits.fits",
                                r"notfits.fits: not a readable FITS image"),
    "saturation-ribbon-model": ("denoise {d}/cube.fits -o {d}/o.fits --model {d}/run --saturation 100",
                                r"apply to flux-image models"),
    "split-zero": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --split 0", r"--split: expected an integer >= 1"),
    "split-negative": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --split -3", r"--split: expected an integer"),
    "workers-zero": ("fit {d}/cube.fits {d}/reads -o {d}/b/ --channels 4 --workers 0", r"--workers: expected an int"),
    "read-noise-inf": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --read-noise inf", r"--read-noise: expected a finite"),
    "read-noise-negative": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --read-noise -1", r"--read-noise: expected"),
    "saturation-nan": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --saturation nan", r"--saturation: expected a finite"),
    "gain-inf": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --gain inf", r"--gain: expected a finite number > 0"),
    "gain-zero": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --gain 0", r"--gain: expected a finite number > 0"),
    "gain-text": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --gain two", r"--gain two: no such file"),
    "gain-map-nan": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --gain {d}/sat_nan.fits",
                     r"--gain .*sat_nan.fits: non-finite value at row 3, column 5"),
    "read-noise-map-shape": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --read-noise {d}/sat_small.fits",
                             r"--read-noise .*sat_small.fits: map is 16 x 128, the data are 32 x 128"),
    "bad-pixels-shape": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --bad-pixels {d}/sat_small.fits",
                         r"--bad-pixels .*sat_small.fits: map is 16 x 128, the data are 32 x 128"),
    "strip-rows-zero": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --strip-rows 0", r"--strip-rows: expected"),
    "channels-zero": ("fit {d}/cube.fits -o {d}/o.fits --channels 0", r"--channels: expected an integer >= 1"),
    "integration-negative": ("fit {d}/cube4d.fits -o {d}/o.fits --channels 4 --integration -1", r"--integration"),
    "unknown-method": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --method slope", r"--method: invalid choice"),
    "unknown-units": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --units ADU", r"--units: invalid choice"),
    "unknown-option": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --bogus", r"unrecognized arguments: --bogus"),
    "no-output": ("fit {d}/cube.fits --channels 4", r"the following arguments are required: -o"),
    "unknown-command": ("fitt {d}/cube.fits", r"invalid choice: 'fitt'"),
    # options that contradict each other or would be ignored
    "fowler-with-utr": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --fowler 2", r"--fowler applies to --method fowler"),
    "fowler-too-many": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --method fowler --fowler 4",
                        r"Fowler number 4 needs at least 8 reads"),
    "optimal-with-cds": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --method cds --weighting optimal",
                         r"--weighting optimal applies to --method utr"),
    "workers-single-input": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --workers 2",
                             r"--workers applies to several inputs or --split"),
    "workers-and-scheduler": ("fit {d}/cube.fits {d}/reads -o {d}/b/ --channels 4 --workers 2 --scheduler tcp://x:1",
                              r"give --workers or --scheduler, not both"),
    "split-several-inputs": ("fit {d}/cube.fits {d}/reads -o {d}/b/ --channels 4 --split 2", r"--split splits one"),
    "hdu-several-inputs": ("fit {d}/cube.fits {d}/reads -o {d}/b/ --channels 4 --hdu 0", r"--hdu and --integration"),
    "glob-matches-nothing": ("fit '{d}/zz*.fits' -o {d}/b/ --channels 4", r"pattern matches no file"),
    "scheduler-unreachable": ("fit {d}/cube.fits {d}/reads -o {d}/b/ --channels 4 --scheduler tcp://127.0.0.1:9",
                              r"--scheduler tcp://127.0.0.1:9: cannot connect"),
    "batch-rows-flux-model": ("denoise {d}/cube.fits -o {d}/o.fits --channels 4 --batch-rows 4",
                              r"--batch-rows applies to ribbon models"),
    # devices
    "denoise-cuda": ("denoise {d}/cube.fits -o {d}/o.fits --channels 4 --device cuda", r"--device cuda: CUDA is not"),
    "denoise-device-bogus": ("denoise {d}/cube.fits -o {d}/o.fits --channels 4 --device tpu", r"--device 'tpu'"),
    "train-cuda": ("train --simulate-darks 1 -o {d}/r --device cuda", r"--device cuda: CUDA is not available"),
    "denoise-precision": ("denoise {d}/cube.fits -o {d}/o.fits --precision fp16", r"--precision: invalid choice"),
    # model files
    "model-missing": ("denoise {d}/cube.fits -o {d}/o.fits --model {d}/nomodel", r"nomodel: no such model"),
    "model-unknown-setting": ("denoise {d}/cube.fits -o {d}/o.fits --model {d}/m_unknown",
                              r"m_unknown/model.json config: unknown ReadoutSetConfig setting\(s\) \['foo'\]"),
    "model-wrong-type": ("denoise {d}/cube.fits -o {d}/o.fits --model {d}/m_type", r"features = '16' must be an integer"),
    "model-huge": ("denoise {d}/cube.fits -o {d}/o.fits --model {d}/m_big", r"features = 200000 is outside"),
    "model-unknown-field": ("denoise {d}/cube.fits -o {d}/o.fits --model {d}/m_topkey", r"unknown ModelSpec setting"),
    "model-n-reads-text": ("denoise {d}/cube.fits -o {d}/o.fits --model {d}/m_nreads", r"n_reads = 'x' must be an int"),
    "model-bad-geometry": ("denoise {d}/cube.fits -o {d}/o.fits --model {d}/m_geometry", r"geometry is not valid"),
    "model-bad-layout": ("denoise {d}/cube.fits -o {d}/o.fits --model {d}/m_layout", r"layouts\['odd'\] needs at least"),
    "model-layout-keys": ("denoise {d}/cube.fits -o {d}/o.fits --model {d}/m_layout_keys",
                          r"layouts\['odd'\] must give exactly"),
    "model-architecture": ("denoise {d}/cube.fits -o {d}/o.fits --model {d}/m_arch", r"unknown architecture 'unet'"),
    "model-truncated": ("denoise {d}/cube.fits -o {d}/o.fits --model {d}/m_truncated", r"not a readable safetensors"),
    "model-nan-weights": ("denoise {d}/cube.fits -o {d}/o.fits --model {d}/m_nan", r"weights hold NaN or inf"),
    "model-no-weights": ("denoise {d}/cube.fits -o {d}/o.fits --model {d}/m_noweights", r"model.safetensors: model file"),
    "model-not-json": ("denoise {d}/cube.fits -o {d}/o.fits --model {d}/notjson", r"notjson/model.json: not a model"),
    "bench-model-missing": ("bench --suite bench-v1-quick -o {d}/bb --model {d}/nomodel", r"nomodel: no such model"),
    "bench-models-same-name": ("bench --suite bench-v1-quick -o {d}/bb --model default --model default",
                               r"--model default: its name 'default' is already used"),
    "demo-model-missing": ("demo -o {d}/dd --model {d}/nomodel", r"nomodel: no such model"),
    # simulate
    "reads-zero": ("simulate dark -o {d}/s --reads 0", r"--reads: expected an integer >= 1"),
    "rows-zero": ("simulate dark -o {d}/s --rows 0", r"--rows: expected an integer >= 1"),
    "noise-unknown": ("simulate dark -o {d}/s --rows 32 --noise loud", r"unknown noise preset 'loud'"),
    "set-negative": ("simulate dark -o {d}/s --rows 32 --set acn=-1", r"--set acn=-1.0: noise levels must be >= 0"),
    "set-unknown": ("simulate dark -o {d}/s --rows 32 --set hum=1", r"--set 'hum=1': expected LEVEL=VALUE"),
    "set-nan": ("simulate dark -o {d}/s --rows 32 --set acn=nan", r"--set 'acn=nan': the value must be finite"),
    "set-no-value": ("simulate dark -o {d}/s --rows 32 --set acn", r"--set 'acn': expected KEY=VALUE with a number"),
    "custom-needs-size": ("simulate dark -o {d}/s --channels 4", r"--channels needs --rows and --cols"),
    "cols-alone": ("simulate dark -o {d}/s --cols 128 --rows 32", r"--cols applies with --channels"),
    "custom-no-divide": ("simulate dark -o {d}/s --channels 5 --rows 32 --cols 128", r"do not divide into 5"),
    "simulate-preset": ("simulate dark -o {d}/s --geometry h9rg", r"unknown geometry preset"),
    "scene-unknown": ("simulate science -o {d}/s --rows 32 --scene galaxy", r"--scene 'galaxy': expected one of"),
    "scene-missing": ("simulate science -o {d}/s --rows 32 --cols 128 --channels 4 --scene {d}/nosuch.fits",
                      r"nosuch.fits: no such file"),
    "scene-wrong-shape": ("simulate science -o {d}/s --rows 32 --cols 128 --channels 4 --scene {d}/wrongshape.fits",
                          r"wrongshape.fits: scene is 16 x 16, expected 32 x 128"),
    "scene-all-zero": ("simulate science -o {d}/s --rows 32 --cols 128 --channels 4 --scene {d}/zero.fits",
                       r"zero.fits: cannot scale a user scene"),
    "p99-zero": ("simulate science -o {d}/s --rows 32 --p99 0", r"--p99: expected a finite number > 0"),
    "mirror-dark": ("simulate dark -o {d}/s --rows 32 --mirror", r"--mirror applies to a scene"),
    "dtype-unknown": ("simulate dark -o {d}/s --rows 32 --dtype int8", r"--dtype: invalid choice"),
    # train
    "recipe-with-ribbon-option": ("train --recipe default -o {d}/r --model payeur2022", r"--model: not used by --recipe"),
    "recipe-with-device": ("train --recipe default -o {d}/r --device cuda", r"--device: not used by --recipe default"),
    "examples-without-recipe": ("train --simulate-darks 1 -o {d}/r --examples 4", r"--examples: only used with --recipe"),
    "darks-and-simulated": ("train --darks {d}/reads --simulate-darks 1 -o {d}/r", r"give either --darks"),
    "no-darks": ("train -o {d}/r", r"give either --darks PATH ... or --simulate-darks N"),
    "model-set-unknown": ("train --simulate-darks 1 -o {d}/r --model-set features=200000",
                          r"--model-set: unknown Payeur2022Config setting\(s\) \['features'\]"),
    "model-set-huge": ("train --simulate-darks 1 -o {d}/r --model-set gru_units=200000", r"gru_units = 200000 is outside"),
    "model-set-text": ("train --simulate-darks 1 -o {d}/r --model-set gru_units=many", r"--model-set 'gru_units=many'"),
    "model-set-no-value": ("train --simulate-darks 1 -o {d}/r --model-set gru_units", r"expected KEY=VALUE"),
    "model-set-float": ("train --simulate-darks 1 -o {d}/r --model-set gru_units=2.5", r"gru_units = 2.5 must be an int"),
    "train-flux-architecture": ("train --simulate-darks 1 -o {d}/r --model readout-set", r"not a ribbon architecture"),
    "train-unknown-architecture": ("train --simulate-darks 1 -o {d}/r --model unet", r"--model 'unet': not a ribbon"),
    "train-bench-seed": ("train --simulate-darks 1 -o {d}/r --seed 9001", r"seed 9001 is reserved"),
    "train-epochs-zero": ("train --simulate-darks 1 -o {d}/r --epochs 0", r"--epochs: expected an integer >= 1"),
    "train-lr-negative": ("train --simulate-darks 1 -o {d}/r --lr -1", r"--lr: expected a finite number > 0"),
    "train-scene-missing": ("train --simulate-darks 1 -o {d}/r --rows 32 --scene {d}/nosuch.fits",
                            r"nosuch.fits: no such file"),
    "resume-epoch-text": ("train " + " ".join(TINY_RIBBON) + " -o {d}/run_epochtext --resume --epochs 2",
                          r"state.json: epoch 'one' is not a count of epochs"),
    "resume-epoch-negative": ("train " + " ".join(TINY_RIBBON) + " -o {d}/run_epochneg --resume --epochs 2",
                              r"state.json: epoch -3 is not a count of epochs"),
    "resume-empty-state": ("train " + " ".join(TINY_RIBBON) + " -o {d}/run_emptystate --resume --epochs 2",
                           r"run_emptystate/checkpoint/state.json: not a readable checkpoint state"),
    "resume-truncated-weights": ("train " + " ".join(TINY_RIBBON) + " -o {d}/run_truncated --resume --epochs 2",
                                 r"run_truncated/checkpoint/model.safetensors: not a readable safetensors"),
    "resume-no-optimizer": ("train " + " ".join(TINY_RIBBON) + " -o {d}/run_nooptimizer --resume --epochs 2",
                            r"optimizer.safetensors: missing; the checkpoint is incomplete"),
    "resume-bad-optimizer": ("train " + " ".join(TINY_RIBBON) + " -o {d}/run_badoptimizer --resume --epochs 2",
                             r"optimizer.safetensors: not a readable safetensors"),
    "resume-other-model-set": ("train " + " ".join(TINY_RIBBON) + " -o {d}/run --resume --epochs 2 "
                               "--model-set gru_units=9", r"run was started with other model settings .*gru_units"),
    "resume-other-lr": ("train " + " ".join(TINY_RIBBON) + " -o {d}/run --resume --epochs 2 --lr 0.5",
                        r"other training settings \(learning_rate"),
    # calibration from darks
    "calibrate-mixed-shapes": ("calibrate {d}/cube.fits {d}/cube40.fits -o {d}/c.fits --channels 4",
                               r"cube40.fits: reads are 40 x 128, geometry .* is 32 x 128"),
    "calibrate-onto-dark": ("calibrate {d}/cube.fits -o {d}/cube.fits --overwrite --channels 4", r"is the input"),
    "calibrate-missing-dark": ("calibrate {d}/nodark.fits -o {d}/c.fits --channels 4", r"nodark.fits: no such file"),
    "calibration-missing": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --calibration {d}/nocal.fits",
                            r"nocal.fits: no such calibration file"),
    "calibration-not-one": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --calibration {d}/truth.fits",
                            r"truth.fits: not a SIRS calibration"),
    "calibration-geometry": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --calibration {d}/cal40.fits",
                             r"the calibration was fitted for n_rows = 40, the data have 32"),
    "calibration-with-seed": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --refcorr seed --calibration {d}/cal.fits",
                              r"--calibration applies to --refcorr sirs, not 'seed'"),
    "sirs-without-calibration": ("fit {d}/cube.fits -o {d}/o.fits --channels 4 --refcorr sirs",
                                 r"--refcorr sirs needs --calibration"),
    "bench-train-and-calibration": ("bench --darks {d}/cube.fits --darks-train {d}/reads --calibration {d}/cal.fits "
                                    "--scene {d}/truth.fits -o {d}/bb --channels 4", r"give --darks-train or --calib"),
    "bench-traces-builtin-scene": ("bench --darks {d}/cube.fits --scene echelle --traces {d}/truth.fits -o {d}/bb "
                                   "--channels 4", r"--traces applies to a scene given as a FITS file"),
    "bench-traces-bad-file": ("bench --darks {d}/cube.fits --scene {d}/truth.fits --traces {d}/truth.fits -o {d}/bb "
                              "--channels 4", r"truth.fits: not a traces file"),
    "bench-calibration-alone": ("bench --suite bench-v1-quick -o {d}/bb --calibration {d}/cal.fits",
                                r"--calibration applies with --darks"),
    "recipe-calibration-without-darks": ("train --recipe default -o {d}/r --calibration {d}/cal.fits",
                                         r"--calibration applies to --recipe default with --darks"),
    "recipe-one-dark": ("train --recipe default -o {d}/r --darks {d}/cube.fits --channels 4",
                        r"--darks: 1 dark\(s\); at least 2 are needed"),
    "recipe-darks-examples": ("train --recipe default -o {d}/r --darks {d}/cube.fits {d}/reads --examples 3 "
                              "--channels 4", r"--examples applies to the simulated recipe"),
    # bench and demo
    "bench-unknown-suite": ("bench --suite bench-v9 -o {d}/bb", r"--suite 'bench-v9': unknown suite"),
    "bench-darks-missing": ("bench --darks {d}/nodark.fits --scene {d}/truth.fits -o {d}/bb --channels 4",
                            r"nodark.fits: no such file"),
    "bench-no-scene": ("bench --darks {d}/cube.fits -o {d}/bb --channels 4", r"--darks needs --scene"),
    "bench-scene-shape": ("bench --darks {d}/cube.fits --scene {d}/wrongshape.fits -o {d}/bb --channels 4",
                          r"wrongshape.fits: scene is 16 x 16"),
    "bench-seed-with-suite": ("bench --suite bench-v1-quick -o {d}/bb --seed 3", r"--seed applies with --darks"),
    "bench-rows-with-darks": ("bench --darks {d}/cube.fits --scene {d}/truth.fits -o {d}/bb --channels 4 --rows 24",
                              r"--rows applies with --suite"),
    "bench-both-sources": ("bench --suite bench-v1-quick --darks {d}/cube.fits -o {d}/bb", r"not allowed with argument"),
    "demo-noise-unknown": ("demo -o {d}/dd --noise loud --model none", r"unknown noise preset 'loud'"),
    "demo-rows-zero": ("demo -o {d}/dd --rows 0", r"--rows: expected an integer >= 1"),
}


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad-inputs")
    _make_inputs(folder)
    return folder


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as stop:  # argparse errors
        return stop.code


@pytest.mark.parametrize("case", CASES)
def test_bad_input_gives_one_line_error_exit_2_and_touches_nothing(inputs, capsys, case):
    import shlex

    command, pattern = CASES[case]
    before = _snapshot(inputs)
    argv = [part.replace("{d}", str(inputs)) for part in shlex.split(command)]
    code = _run(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, (code, captured.err[-2000:])
    assert len(lines) == 1, captured.err
    assert re.search(pattern, lines[0]), lines[0]
    assert _snapshot(inputs) == before, "files appeared, disappeared or changed"
