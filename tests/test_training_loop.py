"""The one training loop (training/loop.py) on a tiny task: resume mid-epoch, loader workers, kept weights."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from hxrg_denoiser.errors import CheckpointError, OutputError, UsageError
from hxrg_denoiser.models.registry import ModelSpec
from hxrg_denoiser.training.loop import LoopSettings, run_training


class LinearTask:
    """Fit y = x . w with dropout (so the per-step torch seeding matters); ``stop_at`` interrupts once."""

    loss_label = "squared error"

    def __init__(self, settings, stop_at=None, lr_setting=0.0):
        self.settings, self.stop_at, self.calls, self.lr_setting = settings, stop_at, 0, lr_setting

    def build_model(self):
        return torch.nn.Sequential(torch.nn.Dropout(0.2), torch.nn.Linear(3, 1))

    def draw_batch(self, rng):
        x = rng.normal(size=(8, 3)).astype(np.float32)
        return torch.from_numpy(x), torch.from_numpy(x @ np.array([1.0, -2.0, 0.5], dtype=np.float32))

    def loss(self, network, model, batch, device, autocast):
        self.calls += 1
        if self.calls == self.stop_at:
            raise KeyboardInterrupt
        x, y = batch
        return torch.mean((network(x).squeeze(-1) - y) ** 2)

    def validation_sums(self, model, device, autocast, rank, world):
        x, y = self.draw_batch(np.random.default_rng(999))
        return float(torch.sum((model(x).squeeze(-1) - y) ** 2)), float(len(y))

    def model_spec(self, history, world):
        return ModelSpec("payeur2022", {}, {"name": "t", "n_rows": 8, "n_cols": 8, "n_channels": 1}, n_reads=2,
                         label_reads=2, training={"history": history})

    def state_extras(self):
        return {"setting": self.lr_setting}

    def check_resume(self, saved):
        if saved.get("setting") != self.lr_setting:
            raise CheckpointError("other settings")


SETTINGS = LoopSettings(epochs=2, steps_per_epoch=10, learning_rate=0.05, lr_decay=0.7, seed=4, device="cpu",
                        checkpoint_every=3, clip_grad=1.0, average_decay=0.9, keep="last")


def _weights(folder):
    return {name: load_file(str(folder / "checkpoint" / f"{name}.safetensors")) for name in ("model", "average", "optimizer")}


def _same(a, b):
    return all(a[n].keys() == b[n].keys() and all(torch.equal(a[n][k], b[n][k]) for k in a[n]) for n in a)


def test_resume_after_an_interruption_mid_epoch_is_bit_identical(tmp_path):
    straight = run_training(LinearTask(SETTINGS), SETTINGS, tmp_path / "a", progress=False)
    with pytest.raises(KeyboardInterrupt):
        run_training(LinearTask(SETTINGS, stop_at=15), SETTINGS, tmp_path / "b", progress=False)
    saved = json.loads((tmp_path / "b" / "checkpoint" / "state.json").read_text())
    assert (saved["epoch"], saved["step"]) == (1, 4)  # interrupted in the 15th step: 14 done
    with pytest.raises(OutputError, match="pass --resume"):
        run_training(LinearTask(SETTINGS), SETTINGS, tmp_path / "b", progress=False)
    resumed = run_training(LinearTask(SETTINGS), SETTINGS, tmp_path / "b", resume=True, progress=False)
    assert [h["train_loss"] for h in resumed["history"]] == [h["train_loss"] for h in straight["history"]]
    assert _same(_weights(tmp_path / "a"), _weights(tmp_path / "b"))
    assert straight["history"][-1]["validation_loss"] < straight["history"][0]["validation_loss"]
    with pytest.raises(CheckpointError):
        run_training(LinearTask(SETTINGS, lr_setting=1.0), SETTINGS, tmp_path / "b", resume=True, progress=False)


def test_loader_workers_do_not_change_the_result(tmp_path):
    run_training(LinearTask(SETTINGS), SETTINGS, tmp_path / "a", progress=False)
    with_worker = LoopSettings(**{**SETTINGS.__dict__, "loader_workers": 1})
    run_training(LinearTask(with_worker), with_worker, tmp_path / "b", progress=False)
    assert _same(_weights(tmp_path / "a"), _weights(tmp_path / "b"))
    # the loader's worker processes end with the run, not when the garbage collector gets to them
    import multiprocessing

    assert not multiprocessing.active_children()


def test_kept_weights_are_the_best_or_the_last_epoch(tmp_path):
    best = LoopSettings(**{**SETTINGS.__dict__, "keep": "best", "average_decay": None, "learning_rate": 2.0, "epochs": 3,
                           "lr_decay": 1.0})
    state = run_training(LinearTask(best), best, tmp_path / "best", progress=False)
    saved = json.loads((tmp_path / "best" / "model.json").read_text())["training"]["history"]
    losses = [h["validation_loss"] for h in state["history"]]
    assert int(np.argmin(losses)) < len(losses) - 1  # so that best and last differ here
    # the model file was last written after the epoch with the lowest validation loss
    assert len(saved) == int(np.argmin(losses)) + 1
    with pytest.raises(UsageError, match="keep"):
        LoopSettings(**{**SETTINGS.__dict__, "keep": "first"})
