"""hxrg-denoiser: science images from HxRG up-the-ramp cubes.

Classical estimators (CDS, Fowler, up-the-ramp fitting, reference-pixel
correction), ramp I/O for any HxRG readout geometry, and deep-learning
denoisers that use how the detector is read out.
"""

from hxrg_denoiser._version import __version__
from hxrg_denoiser.dq import PixelFlag
from hxrg_denoiser.errors import GeometryError, HxrgError, OutputError, RampInputError
from hxrg_denoiser.geometry import PRESETS, ReadoutGeometry, geometry_for_shape, preset

__all__ = [
    "__version__",
    "PixelFlag",
    "HxrgError",
    "GeometryError",
    "RampInputError",
    "OutputError",
    "ReadoutGeometry",
    "PRESETS",
    "preset",
    "geometry_for_shape",
]
