"""Data-quality flags of output pixels.

Bit values follow the JWST pixel-flag convention where one exists.
"""

from __future__ import annotations

import enum

__all__ = ["PixelFlag"]


class PixelFlag(enum.IntFlag):
    """Bits of the uint32 ``DQ`` image."""

    DO_NOT_USE = 1
    SATURATED = 2
    JUMP_DET = 4
    NO_LIN_CORR = 2**20  # --linearity has no correction for this pixel
    UNRELIABLE_SLOPE = 2**24  # a model's output is not finite here
    NON_FINITE_INPUT = 2**30
    REFERENCE_PIXEL = 2**31
