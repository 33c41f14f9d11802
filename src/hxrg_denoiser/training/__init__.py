"""Training networks on darks plus scenes."""

from hxrg_denoiser.training.data import Batch, RibbonSampler, split_rows
from hxrg_denoiser.training.trainer import TrainConfig, l4_loss, train

__all__ = ["Batch", "RibbonSampler", "split_rows", "TrainConfig", "l4_loss", "train"]
