"""Do the jumps that matter get flagged? Cosmic rays that move SCI by more than 10 sigma, and false flags.

For each seed, an echelle strip (nirps-h4rg, 64 rows, 20 reads, nirspec noise) with cosmic rays at
2000 hits / cm^2 / s, as `hxrg simulate science --rows 64 --reads 20 --noise nirspec --scene echelle
--set cosmic_ray_rate=2000` makes, is fitted up the ramp with and without the jump test's step test;
and its twin without cosmic rays gives the SCI error they cause. A pixel whose SCI the hits move by
more than 10 sigma (the twin's ERR) must carry JUMP_DET (target: 95 %): "moved" as a fit without jump
detection has it (what the hits do), and as the fit itself has it (what is left wrong). False flags: the
fraction of pixels flagged on a pure-noise ramp, nirspec and h4rg-lab noise (target: at most 1e-4).

    python benchmarks/jump_detection.py [SEED ...]        # default seeds 11 12 13 14
"""

import sys

import numpy as np

from hxrg_denoiser.dq import PixelFlag
from hxrg_denoiser.fitting import FitOptions, fit_cube
from hxrg_denoiser.geometry import preset
from hxrg_denoiser.simulate import noise_preset, simulate_cube
from hxrg_denoiser.simulate.scenes import make_scene

g = preset("nirps-h4rg", n_rows=64)
seeds = [int(s) for s in sys.argv[1:]] or [11, 12, 13, 14]
usable = ~g.reference_mask
totals: dict[str, list[int]] = {}
for seed in seeds:
    scene = make_scene("echelle", g, seed=seed, p99=30.0).image
    hit = simulate_cube(g, 20, noise_preset("nirspec").replace(cosmic_ray_rate=2000.0), scene=scene, seed=seed)
    twin = simulate_cube(g, 20, noise_preset("nirspec"), scene=scene, seed=seed)
    for step in (False, True):
        name = "two-point + step" if step else "two-point only"
        options = FitOptions(jump_step=step)
        with_hits, without = fit_cube(hit, g, options), fit_cube(twin, g, FitOptions(jump_threshold=None))
        naive = fit_cube(hit, g, FitOptions(jump_threshold=None))
        moved = usable & (np.abs(naive.sci - without.sci) > 10 * without.err)
        left = usable & (np.abs(with_hits.sci - without.sci) > 10 * without.err)
        flagged = (with_hits.dq & PixelFlag.JUMP_DET) != 0
        found, count = int((moved & flagged).sum()), int(moved.sum())
        unflagged_left = int((left & ~flagged).sum())
        flagged_left, count_left = int((left & flagged).sum()), int(left.sum())
        false = {}
        for noise in ("nirspec", "h4rg-lab"):
            quiet = fit_cube(simulate_cube(g, 20, noise_preset(noise), seed=seed + 1000), g, options)
            false[noise] = int((((quiet.dq & PixelFlag.JUMP_DET) != 0) & usable).sum())
        total = totals.setdefault(name, [0, 0, 0, 0, 0, 0, 0])
        total[5] += flagged_left
        total[6] += count_left
        total[0] += found
        total[1] += count
        total[2] += false["nirspec"]
        total[3] += false["h4rg-lab"]
        total[4] += unflagged_left
        print(f"seed {seed} {name:17s}: {found}/{count} pixels the hits move > 10 sigma flagged; of the "
              f"{count_left} left > 10 sigma off, {flagged_left} flagged; false flags on pure noise nirspec {false['nirspec']}, "
              f"h4rg-lab {false['h4rg-lab']} of {int(usable.sum())}", flush=True)
pixels = int(usable.sum()) * len(seeds)
for name, (found, count, false_a, false_b, left, flagged_left, count_left) in totals.items():
    print(f"all seeds {name:17s}: {100 * found / max(count, 1):.1f} % of {count} moved flagged; of {count_left} "
          f"left > 10 sigma off, {100 * flagged_left / max(count_left, 1):.1f} % flagged ({left} not); "
          f"false flags per pixel nirspec {false_a / pixels:.1e}, h4rg-lab {false_b / pixels:.1e}")
