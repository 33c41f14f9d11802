"""Shared helpers: small synthetic ramps written in every supported layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from hxrg_denoiser.geometry import ReadoutGeometry


@pytest.fixture
def small_geometry() -> ReadoutGeometry:
    """A 64 x 128 array with 4 channels of 32 columns, butterfly, 4 reference pixels per edge."""
    return ReadoutGeometry("test-64x128", 64, 128, 4)


def linear_ramp(shape: tuple[int, int], n_reads: int, seed: int = 0, bias: float = 1000.0):
    """Noiseless ramp: read k holds bias + (k + 1) * flux. Returns (cube, flux per frame)."""
    rng = np.random.default_rng(seed)
    flux = rng.uniform(0.0, 40.0, shape).astype(np.float32)
    pedestal = rng.normal(bias, 30.0, shape).astype(np.float32)
    reads = np.arange(1, n_reads + 1, dtype=np.float32)[:, None, None]
    return (pedestal[None] + reads * flux[None]).astype(np.float32), flux


def noisy_ramp(shape: tuple[int, int], n_reads: int, read_noise: float = 5.0, seed: int = 0):
    """Ramp with white read noise and Poisson accumulation. Returns (cube, flux per frame)."""
    rng = np.random.default_rng(seed)
    flux = rng.uniform(0.0, 20.0, shape)
    accumulated = np.cumsum(rng.poisson(flux[None], (n_reads,) + shape), axis=0)
    cube = 500.0 + accumulated + rng.normal(0.0, read_noise, (n_reads,) + shape)
    return cube.astype(np.float32), flux


def ar1_columns(shape: tuple[int, int], phi: float, seed: int) -> np.ndarray:
    """Unit-variance noise, AR(1) down every column: correlation phi**lag between pixels lag rows apart."""
    rng = np.random.default_rng(seed)
    noise = np.empty(shape)
    noise[0] = rng.normal(size=shape[1])
    for row in range(1, shape[0]):
        noise[row] = phi * noise[row - 1] + np.sqrt(1 - phi**2) * rng.normal(size=shape[1])
    return noise


def write_cube(path: Path, cube: np.ndarray, *, uint16: bool = False, hdu_name: str | None = None) -> Path:
    """Write a 3D (or 4D) cube; as uint16 with BZERO when asked, as lab data often are."""
    data = np.clip(np.round(cube), 0, 65535).astype(np.uint16) if uint16 else cube
    if hdu_name:
        fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data, name=hdu_name)]).writeto(path)
    else:
        fits.PrimaryHDU(data).writeto(path)
    return path


def write_reads(folder: Path, cube: np.ndarray, *, uint16: bool = False, pattern: str = "read_{:d}.fits") -> Path:
    """Write one FITS file per read into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, read in enumerate(cube):
        data = np.clip(np.round(read), 0, 65535).astype(np.uint16) if uint16 else read
        fits.PrimaryHDU(data).writeto(folder / pattern.format(k))
    return folder


def write_small_model(folder: Path, geometry: ReadoutGeometry) -> Path:
    """A readout-set model for ``geometry``'s channel layout (random weights), as a run folder."""
    import dataclasses

    from hxrg_denoiser.models.readout_set import ReadoutSetConfig, ReadoutSetNet
    from hxrg_denoiser.models.registry import ModelSpec, save_model

    config = ReadoutSetConfig(features=4, row_dilations=[1], context=2)
    spec = ModelSpec(architecture="readout-set", config=dataclasses.asdict(config), geometry=geometry.to_dict(),
                     n_reads=2, label_reads=0, input_scale=1.0, label_scale=1.0, name="small4",
                     input_layout="flux-image/v1")
    folder.mkdir()
    save_model(folder / "model.safetensors", ReadoutSetNet(config), spec)
    return folder
