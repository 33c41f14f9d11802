"""The JWST pipeline route: the ``hxrg_ramp_fit`` stpipe step and what it needs of JWST's data models.

Importing this package imports nothing of ``jwst``: :func:`get_steps` is the ``stpipe.steps`` entry point
that lets ``strun hxrg_ramp_fit X_ramp.fits`` find the step (:mod:`hxrg_denoiser.jwst.step`, which needs
``pip install hxrg-denoiser[jwst]``).
"""

from __future__ import annotations

__all__ = ["get_steps"]


def get_steps() -> list[tuple[str, str, bool]]:
    """The stpipe steps of this package: ``(class path, alias, is a pipeline)`` each."""
    return [("hxrg_denoiser.jwst.step.HxrgRampFitStep", "hxrg_ramp_fit", False),
            ("hxrg_denoiser.jwst.step.HxrgDetector1Pipeline", "calwebb_detector1_hxrg", True)]
