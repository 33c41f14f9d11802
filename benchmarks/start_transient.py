"""How much reset bias --first-read auto leaves, and what leaving out reads costs.

Dark ramps (no scene) of a NIRPS-like strip (nirps-h4rg, 96 rows) with a start transient of mean amplitude
AMP electrons and decay TAU reads (per channel 0.3-1.7x and 0.6-1.4x, detector seed 7), for several ramp
lengths and noise levels: the first read `auto` chose, the pixel RMS of the flux (the truth is 0) with
`auto`, with every read, and of the same ramp without the transient, and the median (the reset bias).

    python benchmarks/start_transient.py
"""

import numpy as np

from hxrg_denoiser.fitting import FitOptions, fit_cube
from hxrg_denoiser.geometry import PRESETS
from hxrg_denoiser.simulate import noise_preset, simulate_cube

g = PRESETS["nirps-h4rg"].with_rows(96)
inside = ~g.reference_mask


def rms(image):
    return float(np.sqrt(np.mean(image.sci[inside] ** 2)))


print("tau  amp reads noise     seed first | RMS: auto  all reads  no transient | median: auto  all reads  no transient")
for tau, amp, n, name in [(1.0, 40, 30, "nirspec"), (2.0, 40, 30, "nirspec"), (1.0, 60, 100, "nirspec"),
                          (1.0, 40, 30, "h4rg-lab"), (1.5, 20, 10, "nirspec"), (0.7, 15, 20, "nirspec")]:
    for seed in (1, 2):
        noise = noise_preset(name).replace(reset_anomaly=amp, reset_tau=tau, detector_seed=7)
        cube = simulate_cube(g, n, noise, seed=seed)
        auto = fit_cube(cube, g, FitOptions(first_read="auto"))
        every = fit_cube(cube, g, FitOptions())
        without = fit_cube(simulate_cube(g, n, noise.replace(reset_anomaly=0.0), seed=seed), g, FitOptions())
        med = [float(np.median(image.sci[inside])) for image in (auto, every, without)]
        print(f"{tau:3.1f} {amp:4d} {n:5d} {name:9s} {seed:4d} {auto.provenance.fit.first_read:5d} | "
              f"{rms(auto):9.2f} {rms(every):10.2f} {rms(without):13.2f} | {med[0]:+12.2f} {med[1]:+10.2f} "
              f"{med[2]:+13.2f}", flush=True)

print("\nramps without a transient: reads left out by auto (8 seeds each)")
for preset_name, rows, n in [("nirps-h4rg", 128, 30), ("nirps-h4rg", 128, 10), ("jwst-h2rg", 256, 10),
                             ("jwst-h2rg", 256, 40)]:
    geometry = PRESETS[preset_name].with_rows(rows)
    for name in ("nirspec", "h4rg-lab"):
        firsts = [fit_cube(simulate_cube(geometry, n, noise_preset(name), seed=500 + seed), geometry,
                           FitOptions(first_read="auto")).provenance.fit.first_read for seed in range(8)]
        print(f"{preset_name} {rows} rows, {n} reads, {name}: {firsts}", flush=True)
