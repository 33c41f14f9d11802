"""Benchmark: one training step of `payeur2022` at batch 16 on this machine (CPU unless CUDA is present).

Builds the on-the-fly sampler over simulated NIRPS strip darks (100 reads,
h4rg-lab noise) and echelle scenes, then times the sample assembly and the
forward + backward + Adam step separately. The reference TensorFlow code
takes 12.1 s per step here.

    python benchmarks/bench_payeur_train_step.py [--steps 5] [--device auto] [--bf16] [--recurrent-dropout 0]

With ``--recurrent-dropout 0`` (and ``--dropout 0``) the encoder runs the fused
``nn.GRU`` in training too; with the paper's 0.05 its recurrence is unrolled
step by step so that one mask per sequence applies to the hidden state.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from hxrg_denoiser.denoise.api import pick_device
from hxrg_denoiser.geometry import preset
from hxrg_denoiser.models import ModelSpec, Payeur2022Config, build_model
from hxrg_denoiser.training import RibbonSampler, l4_loss
from hxrg_denoiser.training.darks_and_scenes import simulated_darks, training_scenes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast")
    parser.add_argument("--dropout", type=float, default=0.05, help="input dropout of the encoder (paper: 0.05)")
    parser.add_argument("--recurrent-dropout", type=float, default=0.05,
                        help="recurrent dropout of the encoder (paper: 0.05; 0 runs the fused GRU)")
    args = parser.parse_args()

    geometry = preset("nirps-h4rg", n_rows=136)
    darks = simulated_darks(geometry, 1, 100, "h4rg-lab", seed=1)
    sampler = RibbonSampler(darks, training_scenes(geometry, ["echelle"], seed=1, count=2), geometry, n_reads=98)
    device = pick_device(args.device)
    config = Payeur2022Config(dropout=args.dropout, recurrent_dropout=args.recurrent_dropout)
    spec = ModelSpec("payeur2022", config.to_dict(), geometry.to_dict(), n_reads=98, label_reads=100)
    torch.manual_seed(0)
    model = build_model(spec).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    data_times, step_times = [], []
    for step in range(args.steps + 1):  # the first step warms up
        start = time.perf_counter()
        batch = sampler.batch(np.random.default_rng([5, step]), args.batch_size)
        loaded = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16):
            prediction = model(torch.from_numpy(batch.inputs).to(device)).float()
        loss = l4_loss(prediction, torch.from_numpy(batch.labels).to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        done = time.perf_counter()
        if step:
            data_times.append(loaded - start)
            step_times.append(done - loaded)
    print(json.dumps({
        "device": str(device), "threads": torch.get_num_threads(), "batch_size": args.batch_size, "bf16": args.bf16,
        "dropout": args.dropout, "recurrent_dropout": args.recurrent_dropout,
        "sample_assembly_s": round(float(np.mean(data_times)), 3),
        "forward_backward_step_s": round(float(np.mean(step_times)), 3),
        "total_per_step_s": round(float(np.mean(data_times) + np.mean(step_times)), 3),
    }, indent=2))


if __name__ == "__main__":
    main()
