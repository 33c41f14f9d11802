"""Classical flux images: the options (:mod:`.options`), the read noise of a ramp (:mod:`.read_noise`), the
pipeline that streams a ramp by strips into a flux image (:mod:`.pipeline`) and its split over a Dask
cluster (:mod:`.split`). The per-pixel fit and the error model are pure functions in
:mod:`hxrg_denoiser.classical`; the product type is :class:`hxrg_denoiser.io.product.FluxImage`."""

from hxrg_denoiser.fitting.options import FINISHING_OPTIONS, METHODS, UNITS, WEIGHTINGS, FitOptions
from hxrg_denoiser.fitting.pipeline import RampRows, fit_cube, fit_ramp, fit_ramp_rows, flux_image
from hxrg_denoiser.fitting.read_noise import jump_read_noise, ramp_read_noise
from hxrg_denoiser.fitting.split import fit_file_split

__all__ = [
    "FitOptions", "METHODS", "WEIGHTINGS", "UNITS", "FINISHING_OPTIONS",
    "fit_ramp", "fit_ramp_rows", "flux_image", "RampRows", "fit_cube", "fit_file_split",
    "ramp_read_noise", "jump_read_noise",
]
