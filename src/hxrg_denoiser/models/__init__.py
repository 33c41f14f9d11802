"""Network architectures, model files and the catalogue of available models."""

from hxrg_denoiser.models.payeur2022 import Payeur2022, Payeur2022Config
from hxrg_denoiser.models.readout_set import ReadoutSetConfig, ReadoutSetNet
from hxrg_denoiser.models.registry import (
    ARCHITECTURES,
    ModelSpec,
    build_model,
    catalogue,
    load_model,
    resolve_model,
    save_model,
    shipped_models,
)

__all__ = [
    "Payeur2022", "Payeur2022Config", "ReadoutSetConfig", "ReadoutSetNet", "ARCHITECTURES", "ModelSpec",
    "build_model", "load_model", "save_model", "catalogue", "resolve_model", "shipped_models",
]
