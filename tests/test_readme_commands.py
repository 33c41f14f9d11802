"""The README's command block runs as written, in order, on small inputs made for it."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from test_readme import README, hxrg_command_lines

from hxrg_denoiser.cli import main


def _simulated_reads(kind: str, folder: Path, *extra: str) -> Path:
    """A 64-row nirps-h4rg ramp of 10 reads simulated into ``folder`` (its ``reads/`` and other files)."""
    assert main(["-q", "simulate", kind, "--geometry", "nirps-h4rg", "--rows", "64", "--reads", "10",
                 "--format", "reads", "-o", str(folder), *extra]) == 0
    return folder


def _jwst_uncal(path: Path) -> None:
    """A JWST-like 4D cube (1 integration x 10 groups) of a 64-row jwst-h2rg strip, uint16 in SCI."""
    rng = np.random.default_rng(3)
    groups = 12000 + np.arange(10)[:, None, None] * 20.0 + rng.normal(0, 5, (10, 64, 2048))
    primary = fits.PrimaryHDU()
    primary.header["TGROUP"] = 10.737
    primary.header["NFRAMES"] = 1
    primary.header["GROUPGAP"] = 0
    fits.HDUList([primary, fits.ImageHDU(groups[None].astype(np.uint16), name="SCI")]).writeto(path)


@pytest.mark.slow
def test_readme_commands_run_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    science = _simulated_reads("science", tmp_path / "prep" / "science", "--scene", "echelle", "--set",
                               "nonlinearity=0.05")
    shutil.move(science / "reads", "reads_folder")
    shutil.move(science / "linearity.fits", "linearity.fits")
    for k in (1, 2, 3):
        dark = _simulated_reads("dark", tmp_path / "prep" / f"dark{k}", "--seed", str(k))
        shutil.move(dark / "reads", f"dark{k}")
    _jwst_uncal(tmp_path / "jw_uncal.fits")
    Path("night").mkdir()
    for name, seed in (("a", 5), ("b", 6)):
        assert main(["-q", "simulate", "dark", "--geometry", "nirps-h4rg", "--rows", "64", "--reads", "6",
                     "--seed", str(seed), "-o", str(tmp_path / "prep" / name)]) == 0
        shutil.move(tmp_path / "prep" / name / "cube.fits", f"night/{name}.fits")
    commands = hxrg_command_lines(README.read_text())
    assert len(commands) >= 8
    for argv in commands:
        assert main(["-q", *argv]) == 0, f"README command failed: hxrg {' '.join(argv)}"
    for output in ("flux.fits", "denoised.fits", "superdark.fits", "calibrated.fits", "jw_rate.fits",
                   "night-flux/a.fits", "night-flux/b.fits", "sim/cube.fits", "bench-output/report.md"):
        assert (tmp_path / output).is_file(), output
