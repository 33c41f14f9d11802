import pytest

from hxrg_denoiser.cli import main
from hxrg_denoiser.demo import run_demo


@pytest.mark.integration
def test_demo_runs_end_to_end_and_oracle_beats_utr(tmp_path):
    result = run_demo(tmp_path / "demo", rows=40, n_reads=12, model=None, progress=False)
    errors = result.errors
    assert set(errors) == {"cds", "utr", "utr_ref_seed", "utr_ref_smoothed", "utr_ref_seed_clean", "oracle"}
    assert errors["oracle"].robust_sigma < errors["utr"].robust_sigma < errors["cds"].robust_sigma
    for name in ("report.md", "comparison.png", "images/utr.fits", "data/truth.fits"):
        assert (tmp_path / "demo" / name).exists(), name
    # the simulated ramps are removed unless asked for
    assert not (tmp_path / "demo" / "data" / "cube.fits").exists()
    assert not (tmp_path / "demo" / "data" / "oracle.fits").exists()
    assert "| oracle |" in (tmp_path / "demo" / "report.md").read_text()


def test_demo_keeps_the_cubes_when_asked(tmp_path):
    assert main(["demo", "-o", str(tmp_path / "d"), "--rows", "24", "--reads", "4", "--model", "none", "-q",
                 "--keep-cubes"]) == 0
    assert (tmp_path / "d" / "data" / "cube.fits").exists() and (tmp_path / "d" / "data" / "oracle.fits").exists()


@pytest.mark.integration
def test_demo_cli_refuses_to_overwrite(tmp_path, capsys):
    args = ["demo", "--out", str(tmp_path / "d"), "--rows", "24", "--reads", "4", "--model", "none", "-q"]
    assert main(args) == 0
    assert "| utr |" in capsys.readouterr().out
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0


@pytest.mark.integration
def test_demo_runs_the_shipped_default_model(tmp_path):
    """The default model is inside the package and beats reference-corrected UTR on the demo's spectra."""
    result = run_demo(tmp_path / "demo", rows=136, n_reads=50, progress=False)
    assert "default" in result.errors
    assert result.errors["default"].robust_sigma < result.errors["utr_ref_seed"].robust_sigma
    assert result.spectrum_rms["default"] < result.spectrum_rms["utr_ref_seed"] < result.spectrum_rms["utr"]
    assert (tmp_path / "demo" / "images" / "default.fits").exists()
    assert "| default |" in (tmp_path / "demo" / "report.md").read_text()


@pytest.mark.slow
def test_demo_default_size(tmp_path):
    result = run_demo(tmp_path / "demo", progress=False)
    assert result.errors["oracle"].robust_sigma < result.errors["utr_ref_seed"].robust_sigma
