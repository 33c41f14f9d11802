"""What a frame template (``hxrg calibrate --frame-template``) does on the bench families.

For each family named, its calibration dark (one dark of a reserved seed, as bench-v2's ``sirs`` method has)
is calibrated with and without the template; the command says whether the template passed the held-out
check (and its evidence), and, for the cases given with ``--cases``, fits them with both calibrations
(``utr_ref_sirs``, unchecked) beside plain UTR and the oracle, and with ``--model`` the model given each
calibration (``NAME+sirs``: its input ``sirs``-corrected where the reference check keeps it):

    python benchmarks/frame_template.py [--families all|NAME ...] [--cases NAME ...] [--model NAME]

Figures in docs/calibrate.md come from ``--families all --cases frame-bowl-stars-s9511 frame-bowl-stars-s9512
frame-ref5-corner-s9261 frame-ref5-corner-s9262 frame-ref5-corner-s9263``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from hxrg_denoiser.bench.runner import classical_methods, evaluate_case, model_method
from hxrg_denoiser.bench.suite import BENCH_READS, BENCH_ROWS, BENCH_V2, BENCH_V3, bench_geometry, build_case
from hxrg_denoiser.classical.sirs_fit import fit_sirs
from hxrg_denoiser.geometry import preset
from hxrg_denoiser.io.ramps import ArrayRamp
from hxrg_denoiser.simulate.held_out import CALIBRATION_SEED_OFFSET

CASES = BENCH_V2 + [dataclasses.replace(c, calibration_darks=1) for c in BENCH_V3]


def calibrations(case):
    """The family's calibration dark's calibrations without and with a frame template, and its geometry."""
    from hxrg_denoiser.bench.suite import _dark_and_correlated

    geometry = (preset(case.geometry) if case.geometry else bench_geometry()).with_rows(case.n_rows or BENCH_ROWS)
    seed = case.seed - case.seed % 10 + 1 + CALIBRATION_SEED_OFFSET
    dark = ArrayRamp(_dark_and_correlated(case, geometry, case.n_reads or BENCH_READS, seed, None)[0], "dark")
    return fit_sirs([dark], geometry), fit_sirs([dark], geometry, frame=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="*", default=[], help="families whose calibration is tried, or all")
    parser.add_argument("--cases", nargs="*", default=[], help="cases fitted with both calibrations")
    parser.add_argument("--model", help="also a model given each calibration (a shipped name or a path)")
    args = parser.parse_args()
    families = sorted({c.group for c in CASES}) if args.families == ["all"] else args.families
    print("| family | template | held-out evidence | dominance |")
    print("| --- | --- | --- | --- |")
    for family in families:
        case = next(c for c in CASES if c.group == family)
        _, framed = calibrations(case)
        record = framed.record
        print(f"| {family} | {'used' if framed.frame is not None else 'not used'} | {record.frame_evidence:.2f} | "
              f"{record.frame_dominance:.1f} |", flush=True)
    model = [] if args.model is None else [model_method(args.model, calibrated=True)]
    if args.cases:
        print("\n| case | template | sirs | sirs + template | UTR | oracle | raw photometry or spectrum, sirs -> "
              "with template |" + (f" {model[0].name} | {model[0].name} + template | its raw photometry or "
                                   "spectrum |" if model else ""))
        print("| --- | --- | --- | --- | --- | --- | --- |" + (" --- | --- | --- |" if model else ""))
    methods = [m for m in classical_methods() if m.name in ("utr", "utr_ref_sirs", "oracle")] + model
    for name in args.cases:
        started = time.perf_counter()
        case = next(c for c in CASES if c.name == name)
        plain, framed = calibrations(case)
        data = build_case(case, n_rows=case.n_rows or BENCH_ROWS, n_reads=case.n_reads or BENCH_READS)
        found = {}
        for label, calibration in (("plain", plain), ("framed", framed)):
            found[label] = evaluate_case(dataclasses.replace(data, calibration=calibration), methods).metrics
        a, b = found["plain"]["utr_ref_sirs"], found["framed"]["utr_ref_sirs"]
        extra = "phot_raw_rms" if a.get("phot_raw_rms") is not None else "spectrum_rms"
        print(f"| {name} | {'used' if framed.frame is not None else 'not used'} | {a['pixel_rms']:.3f} | "
              f"{b['pixel_rms']:.3f} | {found['plain']['utr']['pixel_rms']:.3f} | "
              f"{found['plain']['oracle']['pixel_rms']:.3f} | {a[extra]:.2f} -> {b[extra]:.2f} ({extra}) |"
              + ("".join(f" {found[k][model[0].name]['pixel_rms']:.3f} |" for k in ("plain", "framed"))
                 + f" {found['plain'][model[0].name][extra]:.2f} -> {found['framed'][model[0].name][extra]:.2f} |"
                 if model else ""), flush=True)
        del data, found
        print(f"<!-- {name}: {time.perf_counter() - started:.0f} s -->", flush=True)


if __name__ == "__main__":
    main()
