"""Training networks on darks plus scenes (``payeur2022``) or on simulated exposures (``readout-set``)."""

from hxrg_denoiser.training.data import Batch, RibbonSampler, split_rows
from hxrg_denoiser.training.flux_trainer import FluxTrainConfig, train_flux_model
from hxrg_denoiser.training.trainer import TrainConfig, l4_loss, train

__all__ = ["Batch", "RibbonSampler", "split_rows", "TrainConfig", "l4_loss", "train", "FluxTrainConfig",
           "train_flux_model"]
