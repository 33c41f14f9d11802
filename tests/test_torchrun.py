"""torchrun (DistributedDataParallel, gloo on CPU) against a single process, on a tiny model."""

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

TRAIN = ["train", "--model", "payeur2022", "--simulate-darks", "2", "--geometry", "h2rg-32", "--rows", "40",
         "--reads", "12", "--model-set", "n_reads=10", "--model-set", "gru_units=8", "--model-set", "conv_filters=4",
         "--epochs", "3", "--steps-per-epoch", "6", "--batch-size", "4", "--val-samples", "16", "--seed", "5",
         "--lr", "0.0005", "-q"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # 9 s; the readout-set test below runs the same distributed training loop in the default suite
def test_payeur2022_trains_under_two_process_torchrun(tmp_path):
    """Both ranks finish, the losses fall, rank 0 alone writes (the loop's one-process runs are tested elsewhere)."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                str(_free_port()), "-m", "hxrg_denoiser.cli"]
    double = subprocess.run([*launcher, *TRAIN, "--out", str(tmp_path / "two")], capture_output=True, text=True,
                            timeout=300)
    assert double.returncode == 0, double.stderr[-3000:]
    state = json.loads((tmp_path / "two" / "checkpoint" / "state.json").read_text())
    assert state["world_size"] == 2
    losses = [(h["train_loss"], h["validation_loss"]) for h in state["history"]]
    # training and validation losses both fall from the first epoch to the last
    assert len(losses) == 3
    assert losses[-1][0] < losses[0][0] and losses[-1][1] < losses[0][1], losses
    # rank 0 alone wrote: one checkpoint folder, one model, one printed summary
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["checkpoint", "loss.png", "model.json", "model.safetensors"]
    assert double.stdout.count("wrote ") == 1


@pytest.mark.integration
def test_readout_set_trainer_under_two_process_torchrun(tmp_path):
    """The same loop trains the readout-set model under DDP: both ranks finish, rank 0 alone writes."""
    script = str(Path(__file__).with_name("flux_training_script.py"))
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                str(_free_port()), script]
    done = subprocess.run([*launcher, str(tmp_path / "two")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"world": 2}
    state = json.loads((tmp_path / "two" / "checkpoint" / "state.json").read_text())
    assert state["world_size"] == 2
    losses = [(h["train_loss"], h["validation_loss"]) for h in state["history"]]
    assert len(losses) == 3 and all(np.isfinite(losses).ravel())
    assert losses[-1][1] < losses[0][1], losses  # validation loss falls
    # rank 0 alone wrote its files (no temporaries of a second writer left)
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["checkpoint", "history.json", "loss.png",
                                                                   "model.json", "model.safetensors"]
