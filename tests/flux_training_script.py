"""Train a tiny readout-set model into argv[1]; run by tests/test_torchrun.py alone and under torchrun."""

import json
import sys
from pathlib import Path

from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.models.readout_set import ReadoutSetConfig
from hxrg_denoiser.simulate import noise_preset
from hxrg_denoiser.training.loop import distributed_context, rank_zero_first
from hxrg_denoiser.training.readout_set import FluxTrainConfig, train_flux_model, training_items
from hxrg_denoiser.training.readout_set_examples import ExampleSpec, make_example

GEOMETRY = ReadoutGeometry("tiny-rs", 40, 128, 4)
MODEL = ReadoutSetConfig(features=6, row_dilations=[1, 2], context=3)


def main(out: Path) -> None:
    items = []
    for seed in (300021, 300022, 300023, 300024):
        scale = {name: 1.0 for name in noise_preset("h4rg-lab").correlated_components}
        spec = ExampleSpec(seed, "h4rg-lab", scale, "echelle", 30.0, 0.0, (6, 3))
        items += training_items(make_example(spec, GEOMETRY), GEOMETRY, clip=8.0)
    config = FluxTrainConfig(epochs=3, steps_per_epoch=8, crop_rows=24, validation_items=2, learning_rate=3e-3,
                             device="cpu", checkpoint_every=4)
    rank_zero_first(lambda: out.mkdir(parents=True, exist_ok=True))
    train_flux_model(items, out, model_config=MODEL, config=config, geometry=GEOMETRY, progress=False)
    rank, world = distributed_context()
    if rank == 0:
        print(json.dumps({"world": world}))
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():  # as the command line does: no rank exits with the group up
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
