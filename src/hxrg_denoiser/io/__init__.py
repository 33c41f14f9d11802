"""Reading ramps and writing science images."""

from hxrg_denoiser.io.output import write_flux_image
from hxrg_denoiser.io.ramps import ArrayRamp, FitsCubeRamp, Ramp, ReadFolderRamp, open_ramp
from hxrg_denoiser.io.safety import atomic_output, check_output_path

__all__ = [
    "Ramp",
    "ArrayRamp",
    "FitsCubeRamp",
    "ReadFolderRamp",
    "open_ramp",
    "atomic_output",
    "check_output_path",
    "write_flux_image",
]
