"""Benchmark: the JWST route end to end, against JWST's own Detector1 steps, on a NIRCam-like uncal.

A NIRCam-like exposure (``jwst-h2rg``, NRCA1 orientation FASTAXIS = -1, RAPID, 2 integrations of 10 groups,
gain 2 e-/DN) is simulated with the project's simulator (an imaging field: stars, galaxies, a sky gradient;
NIRSpec-level correlated noise or white noise only; cosmic rays; a full well that the brightest 0.3 % of the
pixels reach; every integration on the same bias) and written as a ``Level1bModel`` uncal in DN, beside the ``GAIN``, ``READNOISE`` (CDS noise in
DN) and ``SATURATION`` (DN) reference files JWST would take from CRDS. Three routes fit it, each timed as its
own process (``/usr/bin/time``):

- ``hxrg fit`` on the uncal: ``--product jwst --gain GAIN --saturation SATURATION --integration all
  --rateints``;
- JWST's steps: ``dq_init``, ``saturation``, ``refpix``, ``jump``, ``ramp_fit`` (every reference an override;
  CRDS unreachable), which also saves the ``_ramp.fits`` after ``jump``;
- ``strun hxrg_ramp_fit`` on that ``_ramp.fits`` (its GROUPDQ marks saturation and jumps), with and without
  ``--use_groupdq_jumps`` (JWST's jumps taken as well as those found).

For each: std((rate - truth) / ERR) on faint pixels (true rate below the median) and on bright ones (above 3x
the median, below 80 % of the full well), the fraction of the pixels that reach the full well flagged
``SATURATED``, the difference from JWST's ``ramp_fit`` in units of its ERR (median, spread; the spread where
neither flagged a jump), whether ``meta.wcsinfo.v2_ref`` and ``pa_v3`` read back, the rateints' planes,
validation by ``ImageModel``/``CubeModel``, jump-flagged pixels per integration,
wall and CPU seconds and peak memory.

    python benchmarks/bench_jwst_route.py --json docs/results/jwst-route.json [--rows 2048] [--noise nirspec]
        [--variant=--no-jump-step ...]

Needs the jwst extra (`pip install -e .[test]`).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from comparison_json import write_comparison
from timing import time_command

OFFLINE = {"STPIPE_DISABLE_CRDS_STEPPARS": "True", "CRDS_SERVER_URL": "https://localhost:1",
           "CRDS_PATH": tempfile.gettempdir()}
FAST, SLOW = -1, 2  # NIRCam A1: readout order runs right to left along x
N_OUTPUTS = 4
SOURCES = 30.0  # the imaging scene's stars and galaxies made this much brighter (the sky kept)


def _simulate(folder: Path, rows: int, groups: int, ints: int, gain: float, noise_name: str, seed: int) -> dict:
    """The uncal, its reference files and the truth (DN/s, science orientation); returns what scoring needs."""
    from stdatamodels.jwst import datamodels

    from hxrg_denoiser.geometry import preset
    from hxrg_denoiser.io.orientation import to_science
    from hxrg_denoiser.simulate import make_scene, noise_preset
    from hxrg_denoiser.simulate.ramp import RampSimulator

    geometry = preset("jwst-h2rg", n_rows=rows)
    field = make_scene("imaging", geometry, seed=seed)
    scene = field.sky + SOURCES * (field.image - field.sky)  # stars and galaxies up to the full well
    interior = ~geometry.reference_mask
    full_well = float(np.percentile(scene[interior], 99.7))
    noise = noise_preset(noise_name)  # on a bias, as raw reads are (the white preset has none)
    noise = dataclasses.replace(noise, saturation=full_well, cosmic_ray_rate=5.0, bias_level=noise.bias_level or 10000.0)
    cubes, bias = [], None
    for i in range(ints):
        simulator = RampSimulator(geometry, groups, noise, scene=scene, seed=seed + 1 + i)
        cube = np.empty((groups,) + geometry.shape, np.float32)
        for read in simulator.reads():
            cube[read.index] = read.data
        if bias is None:
            bias = simulator.dark.bias_image
        else:  # one detector: every integration on the first one's bias (the simulator draws it per seed)
            cube += bias - simulator.dark.bias_image
        cubes.append(cube)
    # uint16 DN as an uncal holds them; the SATURATION level (DN, bias included): 90 % of the full well
    data = np.stack([to_science(np.clip(np.rint(c / gain), 0, 65535), FAST, SLOW) for c in cubes]).astype(np.uint16)
    level = to_science(bias + 0.9 * full_well, FAST, SLOW) / gain
    ny, nx = data.shape[2:]
    model = datamodels.Level1bModel(data=data)
    m = model.meta
    m.instrument.name, m.instrument.detector, m.instrument.filter, m.instrument.pupil = "NIRCAM", "NRCA1", "F200W", "CLEAR"
    m.exposure.type, m.exposure.readpatt = "NRC_IMAGE", "RAPID"
    m.exposure.group_time = m.exposure.frame_time = geometry.frame_time
    m.exposure.nframes, m.exposure.ngroups, m.exposure.nints, m.exposure.groupgap = 1, groups, ints, 0
    m.exposure.drop_frames1, m.exposure.noutputs, m.exposure.integration_time = 0, N_OUTPUTS, groups * geometry.frame_time
    m.exposure.start_time, m.exposure.mid_time, m.exposure.end_time = 61000.0, 61000.001, 61000.002
    m.subarray.name = "FULL" if rows == 2048 else "SUBGRISM256"
    m.subarray.xstart, m.subarray.ystart, m.subarray.xsize, m.subarray.ysize = 1, 1, nx, ny
    m.subarray.fastaxis, m.subarray.slowaxis = FAST, SLOW
    m.observation.date, m.observation.time = "2026-12-07", "00:00:00"
    m.wcsinfo.v2_ref, m.wcsinfo.v3_ref, m.wcsinfo.roll_ref, m.wcsinfo.v3yangle, m.wcsinfo.vparity = \
        120.6, -527.5, 33.0, -0.5, -1
    m.wcsinfo.ra_ref, m.wcsinfo.dec_ref, m.pointing.pa_v3 = 80.5, -69.5, 40.0
    model.save(folder / "jw_bench_uncal.fits")
    white_cds_dn = noise.white * np.sqrt(2) / gain
    for kind, values in (("gain", np.full((ny, nx), gain)), ("readnoise", np.full((ny, nx), white_cds_dn)),
                         ("saturation", level)):
        ref = {"gain": datamodels.GainModel, "readnoise": datamodels.ReadnoiseModel,
               "saturation": datamodels.SaturationModel}[kind](data=np.asarray(values, np.float32))
        r = ref.meta
        r.instrument.name, r.instrument.detector = "NIRCAM", "NRCA1"
        r.subarray.name, r.subarray.xstart, r.subarray.ystart = m.subarray.name, 1, 1
        r.subarray.xsize, r.subarray.ysize = nx, ny
        ref.save(folder / f"{kind}.fits")
    truth = to_science(scene / (groups * geometry.frame_time) / gain, FAST, SLOW)
    return {"truth": truth, "saturates": to_science(scene >= full_well, FAST, SLOW),
            "below_level": to_science(scene < 0.8 * full_well, FAST, SLOW),
            "interior": to_science(interior, FAST, SLOW), "full_well_e": full_well, "shape": data.shape}


def _jwst_chain(uncal: str, folder: str) -> None:
    """JWST's dq_init .. ramp_fit with every reference an override; saves the ramp, rate and rateints."""
    from jwst.dq_init import DQInitStep
    from jwst.jump import JumpStep
    from jwst.ramp_fitting import RampFitStep
    from jwst.refpix import RefPixStep
    from jwst.saturation import SaturationStep

    refs = {name: str(Path(folder) / f"{name}.fits") for name in ("gain", "readnoise", "saturation")}
    model = DQInitStep(override_mask="N/A").process(uncal)
    model = SaturationStep(override_saturation=refs["saturation"], override_superbias="N/A").process(model)
    model = RefPixStep(override_refpix="N/A", override_sirskernel="N/A").process(model)
    model = JumpStep(override_gain=refs["gain"], override_readnoise=refs["readnoise"], maximum_cores="1").process(model)
    model.save(str(Path(folder) / "jw_bench_ramp.fits"))
    rate, rateints = RampFitStep(override_gain=refs["gain"], override_readnoise=refs["readnoise"]).process(model)
    rate.save(str(Path(folder) / "jwst_rate.fits"))
    rateints.save(str(Path(folder) / "jwst_rateints.fits"))


def _score(name: str, rate_path: Path, rateints_path: Path, truth: dict, reference, timing: dict) -> dict:
    from stdatamodels.jwst import datamodels

    from hxrg_denoiser.dq import PixelFlag

    rate, ints = datamodels.ImageModel(str(rate_path)), datamodels.CubeModel(str(rateints_path))
    rate.validate(), ints.validate()
    true = truth["truth"]
    good = truth["interior"] & ((rate.dq & PixelFlag.DO_NOT_USE) == 0) & np.isfinite(rate.data) \
        & ~truth["saturates"] & ((rate.dq & PixelFlag.SATURATED) == 0)
    median = np.median(true[good])
    z = (rate.data - true) / rate.err
    saturated = (rate.dq & PixelFlag.SATURATED) != 0
    row = {"method": name, "BUNIT": rate.meta.bunit_data,
           "std(error/ERR) faint": float(np.std(z[good & (true < median)])),
           "std(error/ERR) bright": float(np.std(z[good & (true > 3 * median) & truth["below_level"]])),
           "saturating pixels flagged": float(saturated[truth["saturates"]].mean()),
           "others flagged saturated": float(saturated[truth["interior"] & ~truth["saturates"]].mean()),
           "rms error faint (DN/s)": float(np.sqrt(np.mean((rate.data - true)[good & (true < median)] ** 2)))}
    if reference is not None:
        both = good & ((reference.dq & PixelFlag.DO_NOT_USE) == 0) & np.isfinite(reference.data)
        difference = (rate.data - reference.data)[both] / reference.err[both]
        row["median (rate - ramp_fit)/ERR"] = float(np.median(difference))
        row["spread (rate - ramp_fit)/ERR"] = float(np.std(difference))
        calm = both & (((rate.dq | reference.dq) & PixelFlag.JUMP_DET) == 0)  # no jump flagged by either
        row["spread, no jump in either"] = float(np.std((rate.data - reference.data)[calm] / reference.err[calm]))
    row["v2_ref, pa_v3 read back"] = f"{rate.meta.wcsinfo.v2_ref}, {rate.meta.pointing.pa_v3}"
    row["rateints planes"] = int(ints.data.shape[0])
    row["jump pixels per integration"] = float(np.mean([np.count_nonzero(p & PixelFlag.JUMP_DET) for p in ints.dq]))
    row.update({"wall s": timing["wall_s"], "CPU s": timing["cpu_s"], "peak MB": timing["peak_rss_mb"]})
    return row


def run(rows: int, groups: int, ints: int, gain: float, noise: str, seed: int,
        keep: str | None = None, variants: tuple[str, ...] = ()) -> tuple[dict, list[dict]]:
    from stdatamodels.jwst import datamodels

    os.environ.update(OFFLINE)
    with tempfile.TemporaryDirectory(prefix="hxrg-jwst-route-") as tmp:
        folder = Path(keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        truth = _simulate(folder, rows, groups, ints, gain, noise, seed)
        print(f"simulated {truth['shape']} in {time.perf_counter() - started:.0f} s", flush=True)
        uncal, bin_ = folder / "jw_bench_uncal.fits", Path(sys.executable).parent
        hxrg = time_command([str(bin_ / "hxrg"), "fit", str(uncal), "-o", str(folder / "hxrg_rate.fits"),
                             "--geometry", "jwst-h2rg", "--product", "jwst", "--gain", str(folder / "gain.fits"),
                             "--saturation", str(folder / "saturation.fits"), "--integration", "all",
                             "--rateints", str(folder / "hxrg_rateints.fits")])
        print(f"hxrg fit: {hxrg['wall_s']:.1f} s", flush=True)
        varied = []
        for index, variant in enumerate(variants):  # the same fit with more options, e.g. --no-jump-step
            rate, ints_path = folder / f"variant{index}_rate.fits", folder / f"variant{index}_rateints.fits"
            timing = time_command([str(bin_ / "hxrg"), "fit", str(uncal), "-o", str(rate), "--geometry", "jwst-h2rg",
                                   "--product", "jwst", "--gain", str(folder / "gain.fits"), "--saturation",
                                   str(folder / "saturation.fits"), "--integration", "all", "--rateints",
                                   str(ints_path), *variant.split()])
            varied.append((f"hxrg fit {variant}", rate, ints_path, timing))
        chain = time_command([sys.executable, __file__, "--jwst-chain", str(uncal), str(folder)])
        print(f"jwst steps: {chain['wall_s']:.1f} s", flush=True)
        step = time_command([str(bin_ / "strun"), "hxrg_ramp_fit", str(folder / "jw_bench_ramp.fits"),
                             f"--override_gain={folder / 'gain.fits'}",
                             f"--override_readnoise={folder / 'readnoise.fits'}", "--override_saturation=N/A",
                             f"--output_dir={folder}"])
        print(f"strun hxrg_ramp_fit: {step['wall_s']:.1f} s", flush=True)
        (folder / "groupdq").mkdir(exist_ok=True)
        taken = time_command([str(bin_ / "strun"), "hxrg_ramp_fit", str(folder / "jw_bench_ramp.fits"),
                              f"--override_gain={folder / 'gain.fits'}",
                              f"--override_readnoise={folder / 'readnoise.fits'}", "--override_saturation=N/A",
                              "--use_groupdq_jumps=True", f"--output_dir={folder / 'groupdq'}"])
        print(f"strun hxrg_ramp_fit --use_groupdq_jumps: {taken['wall_s']:.1f} s", flush=True)
        reference = datamodels.ImageModel(str(folder / "jwst_rate.fits"))
        results = [
            _score("hxrg fit (uncal)", folder / "hxrg_rate.fits", folder / "hxrg_rateints.fits", truth, reference, hxrg),
            *(_score(name, rate, ints_path, truth, reference, timing) for name, rate, ints_path, timing in varied),
            _score("strun hxrg_ramp_fit (_ramp.fits)", folder / "jw_bench_rate.fits",
                   folder / "jw_bench_rateints.fits", truth, reference, step),
            _score("strun hxrg_ramp_fit --use_groupdq_jumps", folder / "groupdq" / "jw_bench_rate.fits",
                   folder / "groupdq" / "jw_bench_rateints.fits", truth, reference, taken),
            _score("jwst dq_init..ramp_fit", folder / "jwst_rate.fits", folder / "jwst_rateints.fits", truth, None,
                   chain),
        ]
    settings = {"geometry": "jwst-h2rg (NRCA1, FASTAXIS -1)", "cube": list(truth["shape"]), "gain e-/DN": gain,
                "noise": noise, "scene": f"imaging (stars, galaxies x {SOURCES:g}, sky gradient)", "cosmic rays /cm2/s": 5.0,
                "full well e-": truth["full_well_e"], "saturating pixels": int(truth["saturates"].sum()),
                "seed": seed}
    return settings, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2048)
    parser.add_argument("--groups", type=int, default=10)
    parser.add_argument("--ints", type=int, default=2)
    parser.add_argument("--gain", type=float, default=2.0)
    parser.add_argument("--noise", default="nirspec", choices=("nirspec", "white"))
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--json", help="write the figures here (docs/results/jwst-route.json)")
    parser.add_argument("--keep", metavar="FOLDER", help="write the files here and keep them (an empty folder)")
    parser.add_argument("--variant", action="append", default=[], metavar="OPTIONS",
                        help="also hxrg fit the uncal with these options (repeatable), e.g. --variant=--no-jump-step")
    parser.add_argument("--jwst-chain", nargs=2, metavar=("UNCAL", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.jwst_chain:
        _jwst_chain(*args.jwst_chain)
        return
    started = time.perf_counter()
    settings, results = run(args.rows, args.groups, args.ints, args.gain, args.noise, args.seed, args.keep,
                            tuple(args.variant))
    for row in results:
        print(row)
    if args.json:
        write_comparison(args.json, f"The JWST route against JWST's Detector1 ({args.noise} noise)",
                         {**settings, "results": results}, started)


if __name__ == "__main__":
    main()
