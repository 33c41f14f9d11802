"""FITS header cards of a product: where it comes from, how it was fitted, its errors, the model that made it,
and the input's exposure and world-coordinate keywords carried over.

Each ``*_cards`` function turns one typed record into ``{KEY: (value, comment)}``; :func:`make_header` makes a
header of them (printable ASCII, comments cut at whole words).
"""

from __future__ import annotations

import os
import re
import time
import warnings

import numpy as np
from astropy.io import fits

from hxrg_denoiser.io.product import ErrorCalibration, FitRecord, ModelRun, Provenance

__all__ = [
    "fits_text", "make_header", "carried", "wcs_cards", "provenance_cards", "error_cards", "fit_cards", "model_cards",
    "background_cards", "jwst_sci_keyword", "JWST_SCI_KEYWORDS", "WCS_PREFIXES",
]


def fits_text(value: str, limit: int | None = None) -> str:
    """``value`` as printable ASCII for a FITS header card (other characters escaped), cut to ``limit``."""
    text = "".join(ch if 32 <= ord(ch) < 127 else ch.encode("unicode_escape").decode("ascii") for ch in value)
    return text if limit is None else text[:limit]


def provenance_cards(source: Provenance) -> dict:
    """Primary-header keywords of where the image comes from: method, reads, geometry, gain, noise, timing."""
    unit, n_reads, group_time = source.count_unit, source.n_reads, float(source.frame_time)
    white = source.white_read_noise
    cards = {
        "ORIGIN": ("hxrg-denoiser", "software that made this file"),
        "HXRGVER": (source.version, "hxrg-denoiser version"),
        "DATE": (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()), "UTC date this file was written"),
        "METHOD": (source.method, "flux estimator"),
        "NREADS": (n_reads, "number of reads in the ramp"),
        "NGROUPS": (n_reads, "reads (groups) fitted"),
        "GEOMETRY": (source.geometry, "readout geometry"),
        "GAIN": (source.gain, "electrons per input unit"),
        "RDNOISE": (round(float(white), 4), f"[{unit}] white read noise per read"),
        "RDNOISEF": (round(float(source.read_noise), 4), f"[{unit}] per-read noise in VAR_RNOISE"),
        "TGROUP": (group_time, "[s] time between reads"),
        "TIMESRC": (source.timing_source, "where TGROUP comes from"),
        "EFFINTTM": (round((n_reads - 1) * group_time, 6), "[s] first to last read"),
        "EXPTIME": (round(n_reads * group_time, 6), "[s] reads x TGROUP (SCI over-ramp convention)"),
        "INPUT": (fits_text(os.path.basename(source.input.rstrip("/")), 60), "input ramp"),
    }
    if not np.isfinite(source.read_noise):
        del cards["RDNOISE"], cards["RDNOISEF"]
    return cards


def error_cards(errors: ErrorCalibration | None) -> dict:
    """Keywords of the error calibration: RNSCALE, RNLITSC, RNSOURCE, RNCORRn, RNLCORn."""
    if errors is None:
        return {}
    cards = {"RNSCALE": (round(float(errors.read_noise_scale), 4), "VAR_RNOISE scaled to the measured spread"),
             "RNLITSC": (round(float(errors.read_noise_lit_scale), 4), "and x this near light (clean/model)"),
             "RNSOURCE": (errors.read_noise_source, "RNSCALE, RNCORRn measured on")}
    for lag, rho in enumerate(errors.read_noise_correlation or (), start=1):
        cards[f"RNCORR{lag}"] = (round(float(rho), 4), f"read-noise error corr., {lag} row(s) apart")
    for lag, rho in enumerate(errors.read_noise_lit_correlation or (), start=1):
        cards[f"RNLCOR{lag}"] = (round(float(rho), 4), f"RNCORR{lag} near light (clean/model)")
    return cards


def fit_cards(fit: FitRecord | None) -> dict:
    """Keywords of a classical fit's settings: reference correction, weights, cleaning, maps, jumps."""
    if fit is None:
        return {}
    saturation = fit.saturation
    cards = {
        "REFCORR": (fit.refcorr, "reference-pixel correction"),
        "WEIGHTNG": (fit.weighting, "up-the-ramp weights"),
        "CLEAN": (fit.clean, "correlated noise left in the image removed"),
        **(background_cards(fit.keep_background, fit.background_kept, fit.background_evidence,
                            fit.background_rows_kept, fit.scene_share) if fit.clean else {}),
        "SATLEVEL": (saturation if isinstance(saturation, (int, float)) else
                     ("none" if saturation is None else fits_text(os.path.basename(saturation), 60)),
                     "saturation level (input units) or map"),
    }
    if fit.bad_pixels is not None:
        cards["BADPIXEL"] = (fits_text(os.path.basename(fit.bad_pixels), 60), "bad-pixel mask")
    if fit.calibration is not None:
        cards["CALIBFIL"] = (fits_text(os.path.basename(fit.calibration), 60), "reference calibration")
    if fit.dark is not None:
        cards["DARKFILE"] = (fits_text(os.path.basename(fit.dark), 60), "dark subtracted read by read")
    if fit.linearity is not None:
        cards["LINFILE"] = (fits_text(os.path.basename(fit.linearity), 60), "non-linearity correction applied")
    if fit.ipc is not None:
        cards["IPCKERN"] = (fits_text(fit.ipc, 60), "interpixel capacitance in VAR_POISSON")
        cards["IPCVARSC"] = (round(float(fit.ipc_photon_scale or 1.0), 5), "VAR_POISSON x this: charge shared by IPC")
        along_row, along_column = fit.ipc_photon_correlation or (0.0, 0.0)
        cards["IPCRHOX"] = (round(float(along_row), 5), "photon-noise corr. of pixels 1 column apart")
        cards["IPCRHOY"] = (round(float(along_column), 5), "photon-noise corr. of pixels 1 row apart")
    if fit.first_read is not None:
        cards["FIRSTRD"] = (fit.first_read, "first read used (from 0" + ("; after transient)" if fit.first_read_auto
                                                                           else ")"))
        cards["LASTRD"] = (fit.last_read, "last read used (from 0)")
    if fit.read_offsets is not None:
        cards["READOFFS"] = (round(float(fit.read_offsets), 4), "[e-] read-to-read scatter of dark levels")
    threshold = fit.jump_threshold
    cards["JUMPTHR"] = (float(threshold) if threshold is not None else "none", "[sigma] jump detection threshold")
    cards["JUMPNBR"] = (fit.jump_neighbours, "neighbours of jumps flagged")
    if threshold is not None:
        cluster = fit.jump_cluster_threshold
        cards["JUMPCLU"] = (float(cluster) if cluster is not None else "none", "[sigma] jump's 8 neighbours flagged above")
        cards["JUMPSTEP"] = (fit.jump_step, "one-step test on all the reads too")
    if fit.jump_flags is not None:
        cards["JUMPUPST"] = (fit.jump_flags, "jumps taken from the input's GROUPDQ")
    return cards


def model_cards(run: ModelRun | None) -> dict:
    """Keywords of the network that made SCI."""
    if run is None:
        return {}
    cards = {
        "MODEL": (run.model, "denoising model"),
        "ARCH": (run.architecture, "model architecture"),
        "MODELVER": (run.model_version, "package version the model was trained with"),
        "LABREADS": (run.label_reads, "SCI is electrons over this many frames"),
        "PRECISN": (run.precision, "inference precision"),
    }
    if run.layout is not None:
        cards["MODELLAY"] = (run.layout, "channel layout the model was measured on")
    if run.source is not None:
        cards["MODELSRC"] = (fits_text(run.source), "model as asked for: shipped name or path")
    if run.weights_sha256 is not None:
        cards["MODELSHA"] = (run.weights_sha256, "SHA-256 of the model's weights")
    if run.background_kept is not None:
        cards.update(background_cards(True, run.background_kept, run.background_evidence, run.background_rows_kept,
                                      run.scene_share))
    return cards


def background_cards(keep: bool, kept: float | None, evidence: float | None, rows_kept: float | None = None,
                     scene_share: float | None = None) -> dict:
    """``KEEPBKG`` and, where measured, the share of the smooth background kept and the evidence for it, and
    the mean share of the correction given back as scene."""
    cards: dict = {"KEEPBKG": (keep, "the smooth background across columns kept")}
    if kept is not None:
        cards["BKGKEPT"] = (round(float(kept), 4), "share of the smooth background kept")
    if evidence is not None and np.isfinite(evidence):
        cards["BKGEVID"] = (round(float(min(evidence, 1e9)), 3), "its power over noise's (ramp segments)")
    if rows_kept is not None:
        cards["BKGROWS"] = (round(float(rows_kept), 4), "share of the level along the rows kept")
    if scene_share is not None:
        cards["SCNSHARE"] = (round(float(scene_share), 4), "mean share of the correction kept as scene")
    return cards


# The keywords JWST's ImageModel schema reads from the SCI extension (stdatamodels 6: ``fits_hdu: SCI``), BUNIT
# and the world coordinates (written there already) aside; SIP distortion coefficients by pattern.
JWST_SCI_KEYWORDS = frozenset((
    "DEC_REF", "DEC_V1", "DISPAXIS", "EPH_TIME", "EPH_TYPE", "JWST_DX", "JWST_DY", "JWST_DZ", "JWST_X", "JWST_Y",
    "JWST_Z", "MJD-AVG", "MJD-BEG", "MJD-END", "MT_AVDEC", "MT_AVRA", "MT_DEC", "MT_RA", "OBSGEO-X", "OBSGEO-Y",
    "OBSGEO-Z", "OBSGEODX", "OBSGEODY", "OBSGEODZ", "PA_APER", "PA_V3", "PHOTMJSR", "PHOTUJA2", "PIXAR_A2",
    "PIXAR_SR", "PS3_0", "PS3_1", "RA_REF", "RA_V1", "REFFRAME", "ROLL_REF", "SPECSYS", "SPORDER", "SRCTYPE",
    "TDB-BEG", "TDB-END", "TDB-MID", "TELAPSE", "V2_REF", "V3I_YANG", "V3_REF", "VA_SCALE", "VELOSYS", "VPARITY",
    "WAVEND", "WAVSTART", "XPOSURE", "XREF_SCI", "YREF_SCI"))
_SIP = re.compile(r"^(A|B|AP|BP)_(\d_\d|ORDER)$")


def jwst_sci_keyword(key: str) -> bool:
    """``key`` belongs in a JWST product's SCI header (pointing, times, distortion), not the primary."""
    return key in JWST_SCI_KEYWORDS or bool(_SIP.match(key))


# Keywords that describe a file's structure or data, not the exposure: never carried from the input.
_STRUCTURAL = ("SIMPLE", "BITPIX", "NAXIS", "EXTEND", "XTENSION", "PCOUNT", "GCOUNT", "BSCALE", "BZERO", "BLANK",
               "BUNIT", "CHECKSUM", "DATASUM", "EXTNAME", "EXTVER", "END")
WCS_PREFIXES = ("WCSAXES", "CRPIX", "CRVAL", "CTYPE", "CUNIT", "CDELT", "CD1_", "CD2_", "PC1_", "PC2_", "CROTA",
                 "RADESYS", "EQUINOX", "LONPOLE", "LATPOLE", "S_REGION")


def carried(input_header: fits.Header | None, ours: fits.Header) -> fits.Header:
    """The input's exposure keywords (instrument, target, dates...) followed by ours, which win."""
    header = fits.Header()
    if input_header is not None:
        for card in input_header.cards:
            key = card.keyword
            if not key or key.startswith(_STRUCTURAL) or key.startswith(WCS_PREFIXES) or key in ("COMMENT", "HISTORY"):
                continue
            try:
                header.append((key, card.value, card.comment))
            except (ValueError, fits.VerifyError):
                continue  # a card astropy cannot write back is left out rather than failing the output
    header.extend(ours, update=True)
    return header


def wcs_cards(input_header: fits.Header | None) -> dict:
    """The input's world coordinate keywords, for the SCI extension (the 2D image keeps the reads' axes 1-2)."""
    if input_header is None:
        return {}
    return {card.keyword: (card.value, card.comment) for card in input_header.cards
            if card.keyword.startswith(WCS_PREFIXES) and not card.keyword.endswith("3") and "3_" not in card.keyword
            and not card.keyword.endswith("4")}


def make_header(cards: dict) -> fits.Header:
    """A header from ``{KEY: value or (value, comment)}``; text is made printable ASCII."""
    result = fits.Header()
    for key, value in cards.items():
        if isinstance(value, tuple):
            value = tuple(fits_text(v) if isinstance(v, str) else v for v in value)
        elif isinstance(value, str):
            value = fits_text(value)
        result[key] = fitting_comment(key, value)
    return result


def fitting_comment(key: str, value):
    """``value`` (or ``(value, comment)``) with the comment shortened to whole words that fit on the card beside
    a long value (none where no word fits), rather than cut mid-word by astropy."""
    if not isinstance(value, tuple) or len(value) < 2 or not value[1]:
        return value
    comment = value[1]
    while comment:
        card = fits.Card(key, value[0], comment)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            card.image  # noqa: B018 - formatting is what tells a card that does not fit
        if not any("too long" in str(w.message) for w in caught):
            return (value[0], comment)
        comment = comment.rsplit(" ", 1)[0] if " " in comment else ""
    return (value[0], "")
