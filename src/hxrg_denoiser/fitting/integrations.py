"""The integrations of an exposure combined into one flux image, as JWST combines them into a rate.

Each variance term is the inverse of the sum of its inverses, the flux the mean weighted by the inverse total
variance, DQ the bits of any integration (DO_NOT_USE only where none is usable). Used by ``hxrg fit
--integration all`` and by the stpipe step's rate (:mod:`hxrg_denoiser.jwst.rates`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hxrg_denoiser.dq import PixelFlag
from hxrg_denoiser.io.product import FluxImage, ReferenceChoice

__all__ = ["combine_integrations", "combine_flux_images"]


def combine_integrations(ints: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The exposure's rate from its integrations' (arrays of shape ``(n_integrations, n_y, n_x)``, DN/s).

    Each variance term is the inverse of the sum of its inverses over the integrations where it is finite
    and > 0; the rate the mean weighted by the inverse total variance; DQ the bits of any integration (a
    jump or saturation in one is flagged), DO_NOT_USE only where no integration is usable.
    """
    sci, var_p, var_r = ints["sci"], ints["var_poisson"], ints["var_rnoise"]
    total = var_p + var_r
    usable = np.isfinite(sci) & np.isfinite(total) & (total > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.where(usable, 1.0 / np.where(usable, total, 1.0), 0.0)
        weights = weight.sum(axis=0)
        rate = np.where(weights > 0, (np.where(usable, sci, 0.0) * weight).sum(axis=0) / weights, np.nan)
        combined = {}
        for name, var in (("var_poisson", var_p), ("var_rnoise", var_r)):
            good = usable & (var > 0)
            inverse = np.where(good, 1.0 / np.where(good, var, 1.0), 0.0).sum(axis=0)
            combined[name] = np.where(inverse > 0, 1.0 / inverse, np.where(weights > 0, 0.0, np.nan))
    dq = np.bitwise_or.reduce(ints["dq"], axis=0) & ~np.uint32(PixelFlag.DO_NOT_USE)
    dq[weights == 0] |= np.uint32(PixelFlag.DO_NOT_USE)
    err = np.sqrt(combined["var_poisson"] + combined["var_rnoise"])
    return {"sci": rate.astype(np.float32), "err": err.astype(np.float32), "dq": dq.astype(np.uint32),
            "var_poisson": combined["var_poisson"].astype(np.float32),
            "var_rnoise": combined["var_rnoise"].astype(np.float32)}


def combine_flux_images(images: Sequence[FluxImage]) -> FluxImage:
    """One flux image from those of an exposure's integrations (the same units and geometry), combined by
    :func:`combine_integrations`; ``READS_USED`` is summed, the intercept and the error calibration's records
    are the first integration's (each integration's variances are already calibrated on its own pixels).

    Parameters
    ----------
    images : sequence of FluxImage
        One per integration, at least one.

    Returns
    -------
    FluxImage
    """
    if not images:
        raise ValueError("no integration to combine")
    first = images[0]
    if len(images) == 1:
        return first
    stacked = {name: np.stack([getattr(image, name) for image in images])
               for name in ("sci", "err", "dq", "var_poisson", "var_rnoise")}
    combined = combine_integrations(stacked)
    used = None
    if all(image.reads_used is not None for image in images):
        total = np.sum([image.reads_used.astype(np.int64) for image in images], axis=0)  # type: ignore[union-attr]
        used = np.minimum(total, np.iinfo(np.uint16).max).astype(np.uint16)
    reference = first.reference
    choices = [image.reference for image in images]
    if any(choice is not None for choice in choices) and len({c.refcorr_used if c else None for c in choices}) > 1:
        # integrations checked apart may take different corrections: the header says which took which
        reference = ReferenceChoice("mixed", "; ".join(f"{i + 1}: {c.refcorr_used if c else 'unchecked'}"
                                                       for i, c in enumerate(choices)))
    return first._replace(sci=combined["sci"], err=combined["err"], dq=combined["dq"],
                          var_poisson=combined["var_poisson"], var_rnoise=combined["var_rnoise"], reads_used=used,
                          reference=reference)
