"""Trained networks applied to ramps, through one :class:`Denoiser` interface (one implementation per input kind)."""

from hxrg_denoiser.denoise.base import (
    Denoiser,
    DenoiseSettings,
    check_model_geometry,
    load_denoiser,
    make_denoiser,
    model_geometry,
    pick_device,
)
from hxrg_denoiser.denoise.flux_image import FluxImageDenoiser
from hxrg_denoiser.denoise.ribbons import RibbonDenoiser

__all__ = [
    "DenoiseSettings", "Denoiser", "FluxImageDenoiser", "RibbonDenoiser", "make_denoiser", "load_denoiser",
    "pick_device", "check_model_geometry", "model_geometry",
]
