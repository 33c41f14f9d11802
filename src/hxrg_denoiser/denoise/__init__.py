"""Trained networks applied to ramps, through one :class:`Denoiser` interface, one implementation per model
family (:mod:`hxrg_denoiser.denoise.readout_set`, :mod:`hxrg_denoiser.denoise.payeur2022`);
:mod:`hxrg_denoiser.denoise.api` holds the functions of the Python API."""

from hxrg_denoiser.denoise.api import denoise_file_split, denoise_ramp  # noqa: I001 - after the denoisers it runs
from hxrg_denoiser.denoise.base import (
    Denoiser,
    DenoiseSettings,
    check_model_geometry,
    load_denoiser,
    make_denoiser,
    model_geometry,
    pick_device,
)
from hxrg_denoiser.denoise.payeur2022 import Payeur2022Denoiser
from hxrg_denoiser.denoise.readout_set import ReadoutSetDenoiser

__all__ = [
    "DenoiseSettings", "Denoiser", "ReadoutSetDenoiser", "Payeur2022Denoiser", "make_denoiser", "load_denoiser",
    "pick_device", "check_model_geometry", "model_geometry", "denoise_ramp", "denoise_file_split",
]
