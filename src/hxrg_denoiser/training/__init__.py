"""Training networks on darks plus scenes (``payeur2022``) or on simulated exposures (``readout-set``)."""

from hxrg_denoiser.training.payeur2022 import TrainConfig, l4_loss, train
from hxrg_denoiser.training.payeur2022_samples import Batch, RibbonSampler, split_rows
from hxrg_denoiser.training.readout_set import FluxTrainConfig, train_flux_model

__all__ = ["Batch", "RibbonSampler", "split_rows", "TrainConfig", "l4_loss", "train", "FluxTrainConfig",
           "train_flux_model"]
