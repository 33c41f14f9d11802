"""bench-v2's 48 cases, `default` and `--clean` (with the reference-corrected fit beside them), metrics to JSON,
and the comparison of two such runs: how a change moved every case, the worst case first.

    # the code before the change, from a worktree on PYTHONPATH, then the code now
    git worktree add /tmp/before <commit>
    PYTHONPATH=/tmp/before/src python benchmarks/bench_v2_compare.py run before.json
    python benchmarks/bench_v2_compare.py run after.json
    python benchmarks/bench_v2_compare.py compare before.json after.json
    # a candidate model in place of the shipped one (only it is run; the rest is taken from before.json)
    python benchmarks/bench_v2_compare.py run candidate.json runs/mine
    python benchmarks/bench_v2_compare.py compare before.json candidate.json

About 45 s a case on two cores (36 min in all); a run already in the JSON file resumes after its last case.
"""

import json
import os
import sys
import time

METRICS = ("pixel_rms", "spectrum_rms", "spectrum_rms_bgsub", "err_calibration", "spectrum_err_calibration")


def run(path: str, model: str | None = None) -> None:
    from hxrg_denoiser.bench.runner import Method, _Fit, evaluate_case, model_method
    from hxrg_denoiser.bench.suite import build_case
    from hxrg_denoiser.fitting import FitOptions
    from hxrg_denoiser.simulate.held_out import BENCH_V2

    methods = [Method("utr_ref_seed", _Fit(FitOptions(refcorr="seed"))), model_method("default"),
               Method("clean", _Fit(FitOptions(refcorr="seed", clean=True)))]
    if model is not None:
        methods = [model_method(model, name="default")]
    done = json.load(open(path)) if os.path.exists(path) else {}
    for case in BENCH_V2:
        if case.name in done:
            continue
        start = time.time()
        result = evaluate_case(build_case(case), methods, reads_list=(), keep_images=False)
        done[case.name] = {m: {k: v[k] for k in METRICS} for m, v in result.metrics.items()}
        with open(path + ".tmp", "w") as stream:
            json.dump(done, stream, indent=1)
        os.replace(path + ".tmp", path)
        print(f"{case.name}: {time.time() - start:.0f} s", flush=True)


def compare(before_path: str, after_path: str) -> None:
    before, after = json.load(open(before_path)), json.load(open(after_path))
    for method in ("default", "clean"):
        for metric in METRICS[:3]:
            ratios = sorted((after[c][method][metric] / before[c][method][metric], c) for c in after
                            if c in before and method in after[c] and after[c][method][metric]
                            and before[c][method][metric])
            if ratios:
                print(f"{method:8s} {metric:20s} after/before: worst {ratios[-1][0]:.4f} ({ratios[-1][1]}), "
                      f"best {ratios[0][0]:.4f} ({ratios[0][1]}), {len(ratios)} cases")
    seed = {c: (after[c] if "utr_ref_seed" in after[c] else before[c])["utr_ref_seed"] for c in after}
    worst = max((after[c]["default"][m] / seed[c][m], c, m) for c in after for m in METRICS[:3]
                if after[c]["default"][m] and seed[c][m])
    print(f"default / utr_ref_seed after, worst: {worst[0]:.4f} ({worst[1]}, {worst[2]})")


if __name__ == "__main__":
    if sys.argv[1:2] == ["run"] and len(sys.argv) in (3, 4):
        run(sys.argv[2], *sys.argv[3:])
    elif sys.argv[1:2] == ["compare"] and len(sys.argv) == 4:
        compare(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
