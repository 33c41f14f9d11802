"""Writing products: flux images in their layouts, single images, and ramps read by read.

Every writer goes through :mod:`hxrg_denoiser.io.safety`: the output is
checked before any work and written to a temporary name renamed into place.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from astropy.io import fits

from hxrg_denoiser.dq import PixelFlag
from hxrg_denoiser.errors import OutputError
from hxrg_denoiser.io.maps import PixelMap, read_pixel_map
from hxrg_denoiser.io.orientation import READOUT_ORDER, axes_of, to_science
from hxrg_denoiser.io.product import (
    ErrorCalibration,
    FitRecord,
    FluxImage,
    ModelRun,
    Provenance,
    in_data_numbers,
)
from hxrg_denoiser.io.safety import (
    atomic_output,
    check_output_path,
    check_replaceable_folder,
    sweep_stale_temporaries,
    temporary_path,
    write_manifest,
    writing,
)

__all__ = [
    "fits_text",
    "write_flux_image",
    "write_image",
    "RampWriter",
]


def write_image(
    path: str | os.PathLike, data: np.ndarray, *, header: dict | None = None, overwrite: bool = False
) -> Path:
    """Write one array as the primary HDU of a FITS file, atomically."""
    hdu = fits.PrimaryHDU(data, header=_header(header or {}))
    with atomic_output(path, overwrite=overwrite) as tmp:
        hdu.writeto(tmp, overwrite=True)
    return Path(path)


def fits_text(value: str, limit: int | None = None) -> str:
    """``value`` as printable ASCII for a FITS header card (other characters escaped), cut to ``limit``."""
    text = "".join(ch if 32 <= ord(ch) < 127 else ch.encode("unicode_escape").decode("ascii") for ch in value)
    return text if limit is None else text[:limit]


def write_flux_image(path: str | os.PathLike, image: FluxImage, *, overwrite: bool = False,
                     extra: dict | None = None, product: str = "hxrg", gain: PixelMap | None = None) -> Path:
    """Write a :class:`~hxrg_denoiser.io.product.FluxImage` as a FITS product, atomically.

    Parameters
    ----------
    path : path-like
        Output FITS file; refused if it exists unless ``overwrite``, or if it is the input.
    image : FluxImage
    extra : dict, optional
        More header keywords for the primary HDU.
    product : {"hxrg", "jwst", "nirps"}
        ``hxrg``: SCI, ERR, DQ, VAR_POISSON, VAR_RNOISE, READS_USED, INTERCEPT. ``jwst``: a rate file as
        JWST's ``ImageModel`` reads it (SCI, DQ, ERR, VAR_POISSON, VAR_RNOISE; the flux must be per
        second). ``nirps``: the NIRPS/SPIRou ramp layout, slope, intercept, slope error and number of reads
        in extensions 1-4 (SLOPE, INTERCEPT, ERRSLOPE, NUMREADS), then DQ.
    gain : float, path or ndarray, optional
        The gain the image was converted to electrons with (``--gain``): a ``jwst`` rate is written in DN/s,
        SCI and ERR divided by it, the variances by its square (JWST rates are DN/s, the gain in the variances).
    """
    if product not in LAYOUTS:
        raise OutputError(f"--product {product!r}: choose one of {tuple(LAYOUTS)}")
    image = in_file_orientation(image)  # then a gain map lines up as it is stored, in the file's orientation
    if product == "jwst" and gain is not None:
        image = in_data_numbers(image, read_pixel_map(gain, image.sci.shape, "--gain", positive=True))
    source = image.provenance
    cards = {**provenance_cards(source), **error_cards(image.errors), **fit_cards(source.fit),
             **model_cards(image.model)}
    if image.reference is not None:  # the model's input: replaces the fit's REFCORR where it stands
        cards["REFCORR"] = (image.reference.refcorr_used, "reference correction of the model's input")
        cards["REFCHECK"] = (image.reference.note, "reference check: rows; all; reads")
    cards.update(extra or {})
    primary = fits.PrimaryHDU(header=_carried(source.input_header, _header(cards)))
    hdus = LAYOUTS[product](primary, image_hdus(image), path)
    with atomic_output(path, overwrite=overwrite, inputs=[source.input]) as tmp:
        fits.HDUList(hdus).writeto(tmp, overwrite=True)
    return Path(path)


def in_file_orientation(image: FluxImage) -> FluxImage:
    """``image`` (fitted in readout order) in the orientation its input file states (``FASTAXIS``, ``SLOWAXIS``;
    :mod:`hxrg_denoiser.io.orientation`): every array transformed back, the same image where they agree."""
    fast, slow = axes_of(image.provenance.input_header)
    if (fast, slow) == READOUT_ORDER:
        return image
    def back(values: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(to_science(values, fast, slow))

    def back_optional(values: np.ndarray | None) -> np.ndarray | None:
        return None if values is None else back(values)

    return image._replace(sci=back(image.sci), err=back(image.err), dq=back(image.dq),
                          reads_used=back_optional(image.reads_used), var_poisson=back_optional(image.var_poisson),
                          var_rnoise=back_optional(image.var_rnoise), intercept=back_optional(image.intercept))


def provenance_cards(source: Provenance) -> dict:
    """Primary-header keywords of where the image comes from: method, reads, geometry, gain, noise, timing."""
    unit, n_reads, group_time = source.count_unit, source.n_reads, float(source.frame_time)
    white = source.read_noise if source.read_noise_white is None else source.read_noise_white
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
    """Keywords of the error calibration: RNSCALE, RNLITSC, RNCORRn, RNLCORn."""
    if errors is None:
        return {}
    cards = {"RNSCALE": (round(float(errors.read_noise_scale), 4), "VAR_RNOISE scaled to the dark pixels' spread"),
             "RNLITSC": (round(float(errors.read_noise_lit_scale), 4), "and x this near light (clean/model)")}
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


def image_hdus(image: FluxImage) -> dict[str, fits.ImageHDU]:
    """The image's arrays as extensions by name (SCI, ERR, DQ, and those it has of VAR_POISSON, VAR_RNOISE,
    READS_USED, INTERCEPT), not copied where their type is already the file's."""
    source = image.provenance
    unit, over = source.bunit, "over the ramp" if "/" not in source.bunit else "per second"
    hdus = {
        "SCI": fits.ImageHDU(image.sci, name="SCI", header=_header({"BUNIT": (unit, f"flux {over}"),
                                                                    **_wcs_cards(source.input_header)})),
        "ERR": fits.ImageHDU(image.err, name="ERR", header=_header({"BUNIT": (unit, "1-sigma uncertainty")})),
        "DQ": fits.ImageHDU(image.dq.astype(np.uint32, copy=False), name="DQ", header=_header(
            {f"DQBIT{int(np.log2(int(f))):02d}": (f.name, f"value {int(f)}") for f in PixelFlag})),
    }
    for name, values, origin in (("VAR_POISSON", image.var_poisson, "photon"), ("VAR_RNOISE", image.var_rnoise, "read")):
        if values is not None:
            hdus[name] = fits.ImageHDU(values.astype(np.float32, copy=False), name=name, header=_header(
                {"BUNIT": (f"({unit})**2", f"variance of SCI from {origin} noise")}))
    if image.reads_used is not None:
        hdus["READS_USED"] = fits.ImageHDU(image.reads_used.astype(np.uint16, copy=False), name="READS_USED",
                                           header=_header({"BUNIT": ("reads", "reads in each pixel's fit (before "
                                                                     "saturation, between jumps)")}))
    if image.intercept is not None:
        hdus["INTERCEPT"] = fits.ImageHDU(image.intercept.astype(np.float32, copy=False), name="INTERCEPT",
                                          header=_header({"BUNIT": (source.count_unit, "fitted level at the first read")}))
    return hdus


def _hxrg_layout(primary: fits.PrimaryHDU, hdus: dict, path) -> list:
    """SCI, ERR, DQ, VAR_POISSON, VAR_RNOISE, READS_USED, INTERCEPT (those the image has)."""
    order = ("SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE", "READS_USED", "INTERCEPT")
    return [primary, *(hdus[name] for name in order if name in hdus)]


def _jwst_layout(primary: fits.PrimaryHDU, hdus: dict, path) -> list:
    """A rate file as JWST's ``ImageModel`` reads it: SCI, DQ, ERR, VAR_POISSON, VAR_RNOISE (per second), the
    pointing, time and WCS keywords of the input in SCI, where the schema keeps them."""
    if "/" not in hdus["SCI"].header["BUNIT"]:
        raise OutputError(f"{path}: --product jwst is a rate file: give --units e-/s (the flux per second)")
    primary.header["DATAMODL"] = ("ImageModel", "JWST data model of this file")
    primary.header["TELESCOP"] = primary.header.get("TELESCOP", "JWST")
    for card in list(primary.header.cards):
        if jwst_sci_keyword(card.keyword):
            hdus["SCI"].header[card.keyword] = (card.value, card.comment)
            del primary.header[card.keyword]
    return [primary, *(hdus[name] for name in ("SCI", "DQ", "ERR", "VAR_POISSON", "VAR_RNOISE") if name in hdus)]


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


def _nirps_layout(primary: fits.PrimaryHDU, hdus: dict, path) -> list:
    """The NIRPS/SPIRou ramp layout: SLOPE, INTERCEPT, ERRSLOPE, NUMREADS in extensions 1-4, then DQ."""
    if "READS_USED" not in hdus or "INTERCEPT" not in hdus:
        raise OutputError(f"{path}: --product nirps needs the intercept and read count of a ramp fit")
    names = {"SCI": "SLOPE", "INTERCEPT": "INTERCEPT", "ERR": "ERRSLOPE", "READS_USED": "NUMREADS"}
    layout = [hdus[name] for name in names]
    for hdu in layout:
        hdu.name = names[hdu.name]
    return [primary, *layout, hdus["DQ"]]


# One writer per product layout: the primary HDU and the image's extensions in, the file's HDUs out.
LAYOUTS: dict[str, Callable[[fits.PrimaryHDU, dict, object], list]] = {
    "hxrg": _hxrg_layout, "jwst": _jwst_layout, "nirps": _nirps_layout}
PRODUCTS = tuple(LAYOUTS)


# Keywords that describe a file's structure or data, not the exposure: never carried from the input.
_STRUCTURAL = ("SIMPLE", "BITPIX", "NAXIS", "EXTEND", "XTENSION", "PCOUNT", "GCOUNT", "BSCALE", "BZERO", "BLANK",
               "BUNIT", "CHECKSUM", "DATASUM", "EXTNAME", "EXTVER", "END")
_WCS_PREFIXES = ("WCSAXES", "CRPIX", "CRVAL", "CTYPE", "CUNIT", "CDELT", "CD1_", "CD2_", "PC1_", "PC2_", "CROTA",
                 "RADESYS", "EQUINOX", "LONPOLE", "LATPOLE", "S_REGION")


def _carried(input_header: fits.Header | None, ours: fits.Header) -> fits.Header:
    """The input's exposure keywords (instrument, target, dates...) followed by ours, which win."""
    header = fits.Header()
    if input_header is not None:
        for card in input_header.cards:
            key = card.keyword
            if not key or key.startswith(_STRUCTURAL) or key.startswith(_WCS_PREFIXES) or key in ("COMMENT", "HISTORY"):
                continue
            try:
                header.append((key, card.value, card.comment))
            except (ValueError, fits.VerifyError):
                continue  # a card astropy cannot write back is left out rather than failing the output
    header.extend(ours, update=True)
    return header


def _wcs_cards(input_header: fits.Header | None) -> dict:
    """The input's world coordinate keywords, for the SCI extension (the 2D image keeps the reads' axes 1-2)."""
    if input_header is None:
        return {}
    return {card.keyword: (card.value, card.comment) for card in input_header.cards
            if card.keyword.startswith(_WCS_PREFIXES) and not card.keyword.endswith("3") and "3_" not in card.keyword
            and not card.keyword.endswith("4")}


def _header(cards: dict) -> fits.Header:
    """A header from ``{KEY: value or (value, comment)}``; text is made printable ASCII."""
    header = fits.Header()
    for key, value in cards.items():
        if isinstance(value, tuple):
            value = tuple(fits_text(v) if isinstance(v, str) else v for v in value)
        elif isinstance(value, str):
            value = fits_text(value)
        header[key] = _fitting_comment(key, value)
    return header


def _fitting_comment(key: str, value):
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


class RampWriter:
    """Write a ramp read by read as a 3D FITS cube or a folder of per-read files, atomically.

    The data go to a temporary file (or folder) beside the target, renamed
    onto it when every read has been written; on error nothing is left.

    Parameters
    ----------
    path : path-like
        ``cube.fits`` for ``layout="cube"``, a folder for ``layout="reads"``.
    n_reads : int
    shape : tuple of int
        ``(n_rows, n_cols)``.
    layout : {"cube", "reads"}
    dtype : {"float32", "uint16"}
        uint16 values are electrons / gain rounded and clipped to 0..65535.
    gain : float
        Electrons per output unit.
    header : dict, optional
        Keywords for the primary header (the cube's, or every read's).
    overwrite : bool
    """

    def __init__(
        self,
        path: str | os.PathLike,
        n_reads: int,
        shape: tuple[int, int],
        *,
        layout: str = "cube",
        dtype: str = "float32",
        gain: float = 1.0,
        header: dict | None = None,
        overwrite: bool = False,
    ) -> None:
        if layout not in ("cube", "reads"):
            raise ValueError(f"layout must be 'cube' or 'reads', got {layout!r}")
        if dtype not in ("float32", "uint16"):
            raise ValueError(f"dtype must be 'float32' or 'uint16', got {dtype!r}")
        self.path = check_output_path(path, overwrite=overwrite, folder=layout == "reads")
        if layout == "reads" and self.path.is_dir():
            check_replaceable_folder(self.path)  # never removes a file hxrg did not write
        self.n_reads, self.shape, self.layout, self.dtype, self.gain = n_reads, shape, layout, dtype, gain
        self.cards = {"BUNIT": ("e-" if gain == 1.0 else "ADU", "data unit"), "GAIN": (gain, "electrons per unit")}
        self.cards.update(header or {})
        self.written = 0
        sweep_stale_temporaries(self.path.parent)
        self._tmp = temporary_path(self.path, directory=True)
        self._stream = None

    def _convert(self, read: np.ndarray) -> np.ndarray:
        data = read if self.gain == 1.0 else read / np.float32(self.gain)
        if self.dtype == "uint16":
            return np.clip(np.round(data), 0, 65535).astype(np.uint16)
        return data.astype(np.float32, copy=False)

    def write(self, read: np.ndarray) -> None:
        """Append the next read, shape ``(n_rows, n_cols)``, electrons."""
        if read.shape != tuple(self.shape):
            raise ValueError(f"read of shape {read.shape}, expected {self.shape}")
        if self.written >= self.n_reads:
            raise ValueError(f"all {self.n_reads} reads are already written")
        with writing(self.path):
            self._write(self._convert(read))
        self.written += 1

    def _write(self, data: np.ndarray) -> None:
        if self.layout == "reads":
            hdu = fits.PrimaryHDU(data, header=_header({**self.cards, "READNUM": (self.written, "read index")}))
            hdu.writeto(self._tmp / f"read_{self.written:03d}.fits")
        else:
            stream = self._stream
            if stream is None:
                stream = self._stream = fits.StreamingHDU(self._tmp / "cube.fits", self._cube_header(data.dtype))
            if data.dtype == np.uint16:
                data = (data.astype(np.int32) - 32768).astype(np.int16)
            stream.write(data)

    def _cube_header(self, dtype: np.dtype) -> fits.Header:
        header = fits.Header()
        header["SIMPLE"] = True
        header["BITPIX"] = 16 if dtype == np.uint16 else -32
        header["NAXIS"] = 3
        header["NAXIS1"] = self.shape[1]
        header["NAXIS2"] = self.shape[0]
        header["NAXIS3"] = self.n_reads
        if dtype == np.uint16:
            header["BZERO"] = 32768
            header["BSCALE"] = 1
        header.update(_header(self.cards))
        return header

    def close(self) -> None:
        """Finish: rename the complete output onto its path."""
        if self.written != self.n_reads:
            raise ValueError(f"{self.path}: {self.written} of {self.n_reads} reads written")
        if self._stream is not None:
            with writing(self.path):
                self._stream.close()
        if self.layout == "cube":
            os.replace(self._tmp / "cube.fits", self.path)
            self._tmp.rmdir()
            return
        write_manifest(self._tmp, (f"read_{k:03d}.fits" for k in range(self.n_reads)))
        previous = None
        if self.path.is_dir():
            check_replaceable_folder(self.path)  # again: a file may have been added while we wrote
            previous = temporary_path(self.path, directory=True)
            os.replace(self.path, previous / "old")
        elif os.path.lexists(self.path):
            self.path.unlink()
        os.replace(self._tmp, self.path)
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)

    def abort(self) -> None:
        """Remove everything written so far."""
        if self._stream is not None:
            self._stream._ffo.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> RampWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
