"""Writing products: flux images in their layouts, single images, and ramps read by read.

Every writer goes through :mod:`hxrg_denoiser.io.safety`: the output is
checked before any work and written to a temporary name renamed into place.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from astropy.io import fits

from hxrg_denoiser.dq import PixelFlag
from hxrg_denoiser.errors import OutputError
from hxrg_denoiser.io.cards import (
    carried,
    error_cards,
    fit_cards,
    jwst_sci_keyword,
    make_header,
    model_cards,
    provenance_cards,
    wcs_cards,
)
from hxrg_denoiser.io.maps import PixelMap, read_pixel_map
from hxrg_denoiser.io.orientation import READOUT_ORDER, axes_of, to_science
from hxrg_denoiser.io.product import (
    FluxImage,
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
    "write_flux_image",
    "write_flux_cube",
    "write_image",
    "product_cards",
    "RampWriter",
]


def write_image(
    path: str | os.PathLike, data: np.ndarray, *, header: dict | None = None, overwrite: bool = False
) -> Path:
    """Write one array as the primary HDU of a FITS file, atomically."""
    hdu = fits.PrimaryHDU(data, header=make_header(header or {}))
    with atomic_output(path, overwrite=overwrite) as tmp:
        hdu.writeto(tmp, overwrite=True)
    return Path(path)


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
    (image,) = _for_file([image], product, gain)
    return _write(path, image, LAYOUTS[product], overwrite=overwrite, extra=extra)


def _for_file(images: Sequence[FluxImage], product: str, gain: PixelMap | None) -> list[FluxImage]:
    """The images in their input file's orientation (where a gain map lines up as it is stored), in DN for
    a JWST product with a gain."""
    images = [in_file_orientation(image) for image in images]
    if product == "jwst" and gain is not None:
        factor = read_pixel_map(gain, images[0].sci.shape, "--gain", positive=True)
        images = [in_data_numbers(image, factor) for image in images]
    return images


def product_cards(image: FluxImage) -> dict:
    """The primary-header keywords of ``image``'s records (``KEY: (value, comment)``): where it comes from, its
    error calibration, the fit's settings, the model and the reference correction the check kept."""
    source = image.provenance
    cards = {**provenance_cards(source), **error_cards(image.errors), **fit_cards(source.fit),
             **model_cards(image.model)}
    if image.reference is not None:  # checked: the correction kept replaces the one asked for
        cards["REFCORR"] = (image.reference.refcorr_used, "reference correction kept by the check")
        cards["REFCHECK"] = (image.reference.note, "reference check: rows; all; reads")
    return cards


def _write(path: str | os.PathLike, image: FluxImage, layout: Callable, *, overwrite: bool,
           extra: dict | None) -> Path:
    """``image`` (2D arrays, or 3D with a leading integration axis) in ``layout``, its header cards from its
    records, atomically."""
    source = image.provenance
    cards = {**product_cards(image), **(extra or {})}
    primary = fits.PrimaryHDU(header=carried(source.input_header, make_header(cards)))
    hdus = layout(primary, image_hdus(image), path)
    with atomic_output(path, overwrite=overwrite, inputs=[source.input]) as tmp:
        fits.HDUList(hdus).writeto(tmp, overwrite=True)
    return Path(path)


def write_flux_cube(path: str | os.PathLike, images: Sequence[FluxImage], *, overwrite: bool = False,
                    extra: dict | None = None, product: str = "hxrg", gain: PixelMap | None = None) -> Path:
    """Write the flux images of an exposure's integrations as one product, each array with a leading
    integration axis, atomically: JWST's ``rateints`` (``--product jwst``: a file its ``CubeModel`` opens,
    DN/s) or the ``hxrg`` layout of 3D extensions.

    Parameters
    ----------
    path : path-like
    images : sequence of FluxImage
        One per integration, in order, the same shape, units and provenance but for their arrays (each
        integration's ERR is calibrated on its own pixels; the header's ``RNSCALE`` is the first one's).
    product : {"hxrg", "jwst"}
        ``nirps`` has no layout for integrations: refused.
    extra, gain, overwrite
        As :func:`write_flux_image`.
    """
    if product not in CUBE_LAYOUTS:
        raise OutputError(f"--product {product!r}: no layout for one image per integration; choose one of "
                          f"{tuple(CUBE_LAYOUTS)}")
    if not images:
        raise ValueError("no integration to write")
    images = _for_file(images, product, gain)

    def stacked(name: str) -> np.ndarray | None:
        values = [getattr(image, name) for image in images]
        return None if any(v is None for v in values) else np.stack(values)

    cube = images[0]._replace(sci=np.stack([i.sci for i in images]), err=np.stack([i.err for i in images]),
                              dq=np.stack([i.dq for i in images]),
                              reads_used=stacked("reads_used"), var_poisson=stacked("var_poisson"),
                              var_rnoise=stacked("var_rnoise"), intercept=stacked("intercept"))
    return _write(path, cube, CUBE_LAYOUTS[product], overwrite=overwrite,
                  extra={"NINTS": (len(images), "integrations, one per plane"), **(extra or {})})


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


def image_hdus(image: FluxImage) -> dict[str, fits.ImageHDU]:
    """The image's arrays as extensions by name (SCI, ERR, DQ, and those it has of VAR_POISSON, VAR_RNOISE,
    READS_USED, INTERCEPT), not copied where their type is already the file's."""
    source = image.provenance
    unit, over = source.bunit, "over the ramp" if "/" not in source.bunit else "per second"
    hdus = {
        "SCI": fits.ImageHDU(image.sci, name="SCI", header=make_header({"BUNIT": (unit, f"flux {over}"),
                                                                    **wcs_cards(source.input_header)})),
        "ERR": fits.ImageHDU(image.err, name="ERR", header=make_header({"BUNIT": (unit, "1-sigma uncertainty")})),
        "DQ": fits.ImageHDU(image.dq.astype(np.uint32, copy=False), name="DQ", header=make_header(
            {f"DQBIT{int(np.log2(int(f))):02d}": (f.name, f"value {int(f)}") for f in PixelFlag})),
    }
    for name, values, origin in (("VAR_POISSON", image.var_poisson, "photon"), ("VAR_RNOISE", image.var_rnoise, "read")):
        if values is not None:
            hdus[name] = fits.ImageHDU(values.astype(np.float32, copy=False), name=name, header=make_header(
                {"BUNIT": (f"({unit})**2", f"variance of SCI from {origin} noise")}))
    if image.reads_used is not None:
        hdus["READS_USED"] = fits.ImageHDU(image.reads_used.astype(np.uint16, copy=False), name="READS_USED",
                                           header=make_header({"BUNIT": ("reads", "reads in each pixel's fit (before "
                                                                     "saturation, between jumps)")}))
    if image.intercept is not None:
        hdus["INTERCEPT"] = fits.ImageHDU(image.intercept.astype(np.float32, copy=False), name="INTERCEPT",
                                          header=make_header({"BUNIT": (source.count_unit, "fitted level at the first read")}))
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


def _jwst_cube_layout(primary: fits.PrimaryHDU, hdus: dict, path) -> list:
    """A rateints file as JWST's ``CubeModel`` reads it: the rate layout with one plane per integration."""
    layout = _jwst_layout(primary, hdus, path)
    primary.header["DATAMODL"] = ("CubeModel", "JWST data model of this file")
    return layout


# The layouts of one image per integration (write_flux_cube).
CUBE_LAYOUTS: dict[str, Callable[[fits.PrimaryHDU, dict, object], list]] = {
    "hxrg": _hxrg_layout, "jwst": _jwst_cube_layout}


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
            hdu = fits.PrimaryHDU(data, header=make_header({**self.cards, "READNUM": (self.written, "read index")}))
            hdu.writeto(self._tmp / f"read_{self.written:03d}.fits")
        else:
            stream = self._stream
            if stream is None:
                stream = self._stream = fits.StreamingHDU(self._tmp / "cube.fits", self._cubeheader(data.dtype))
            if data.dtype == np.uint16:
                data = (data.astype(np.int32) - 32768).astype(np.int16)
            stream.write(data)

    def _cubeheader(self, dtype: np.dtype) -> fits.Header:
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
        header.update(make_header(self.cards))
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
