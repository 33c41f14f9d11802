"""Model files and the catalogue of architectures.

A model is two files side by side, no pickle: ``NAME.safetensors`` (weights)
and ``NAME.json`` (:class:`ModelSpec`: architecture and its configuration,
readout geometry, reads, normalisation, reference correction, package
version). A training run folder holds ``model.safetensors`` + ``model.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from hxrg_denoiser._version import __version__
from hxrg_denoiser.classical.reference import REFERENCE_METHODS
from hxrg_denoiser.errors import GeometryError, ModelFileError, one_line
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.safety import atomic_output, usual_permissions
from hxrg_denoiser.models.config import check_parameter_budget, config_from_dict, setting
from hxrg_denoiser.models.payeur2022 import Payeur2022, Payeur2022Config
from hxrg_denoiser.models.readout_set import ReadoutSetConfig, ReadoutSetNet

__all__ = [
    "ARCHITECTURES", "ModelSpec", "ModelFileError", "build_model", "save_model", "load_model", "read_spec",
    "catalogue", "CatalogueEntry", "SHIPPED_DIR", "shipped_models", "resolve_model", "is_model_path",
    "model_files",
]

SHIPPED_DIR = Path(__file__).parent / "shipped"

ARCHITECTURES: dict[str, tuple[type[torch.nn.Module], type]] = {"payeur2022": (Payeur2022, Payeur2022Config), "readout-set": (ReadoutSetNet, ReadoutSetConfig)}
INPUT_LAYOUT = "row-offset/read/series"  # stack_neighbours: rows y-1, y, y+1, then reads, then series
# The input features each architecture's code builds; a model file recording another is refused.
INPUT_LAYOUTS = {"payeur2022": INPUT_LAYOUT, "readout-set": "flux-image/v1"}


LOADED_FIELDS = ("source", "weights_sha256")  # ModelSpec fields of the files loaded, not of the model


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild and apply a model, saved as JSON beside the weights.

    Attributes
    ----------
    architecture : str
    config : dict
        Architecture configuration (e.g. :class:`Payeur2022Config` fields).
    geometry : dict
        :class:`ReadoutGeometry` it was trained for (rows may differ at inference).
    n_reads : int
        Reads the network takes (the first ones of a ramp).
    label_reads : int
        Reads of the training ramps: outputs are electrons accumulated over that many frames.
    input_scale, label_scale : float
        Ribbons are multiplied by ``input_scale``; outputs divided by ``label_scale``.
    refcorr : str
        Reference correction applied before the ribbons.
    name : str
    version : str
        Package version that wrote the file.
    training : dict
        Recipe, seeds, epochs and final losses, for the record.
    input_layout : str
        Order of the input features (see :mod:`hxrg_denoiser.models.payeur2022_ribbons`).
    layouts : dict
        Other readout layouts the model serves, by geometry name: ``{"n_channels", "channel_width",
        "ref_border", "butterfly"}`` of each, added when the model was measured there (bench-v1 built on
        that geometry; figures in ``training["bench"]``). The layout of ``geometry`` is always served.
    lit_read_scale : float
        Read-noise variance of the output's pixels near light over that of its dark pixels (flux-image
        models: the dark pixels partly enter the model's own estimate of the correlated noise), applied to
        ERR (:func:`~hxrg_denoiser.classical.error_model.calibrated_errors`); measured on simulated exposures by
        ``benchmarks/calibrate_lit_errors.py``. 1 for files written before it existed.
    lit_covariance_fraction : float
        Fraction of the input fit's correlated read-noise covariance that the output keeps in the pixels
        near light, correlated from row to row (``RNLCORn``; see
        :func:`~hxrg_denoiser.classical.error_model.calibrated_errors`); measured as ``lit_read_scale`` is. 0 (none
        given) for files written before it existed.
    correction_window : list of int
        Flux-image models: rows and columns (odd) over which the network's correction to the cleaning's
        estimate is averaged before it is removed
        (:func:`~hxrg_denoiser.models.readout_set_image.smoothed_correction`); ``[1, 1]`` (files written before it
        existed): as predicted.
    """

    architecture: str
    config: dict
    geometry: dict
    n_reads: int = setting(2, 1, 100_000)
    label_reads: int = setting(0, 0, 100_000)
    input_scale: float = setting(1.0 / 90.0, 1e-12, 1e12)
    label_scale: float = setting(1.0 / 60.0, 1e-12, 1e12)
    refcorr: str = "seed"
    name: str = "model"
    version: str = __version__
    training: dict = field(default_factory=dict)
    input_layout: str = INPUT_LAYOUT
    layouts: dict = field(default_factory=dict)
    lit_read_scale: float = setting(1.0, 1.0, 4.0)
    lit_covariance_fraction: float = setting(0.0, 0.0, 4.0)
    correction_window: list[int] = setting([1, 1], 1, 4095, odd=True, length=2)
    # where the weights were read from, and their SHA-256 (hex): set by load_model, never written to the JSON
    source: str | None = field(default=None, compare=False)
    weights_sha256: str | None = field(default=None, compare=False)

    @property
    def takes_calibrated_input(self) -> bool:
        """Trained on ``sirs``-corrected inputs: it needs its detector's calibration."""
        return self.refcorr == "sirs"

    @property
    def readout_geometry(self) -> ReadoutGeometry:
        return ReadoutGeometry.from_dict(self.geometry)

    def to_json(self) -> str:
        document = asdict(self)
        for name in LOADED_FIELDS:
            document.pop(name)
        return json.dumps(document, indent=2, sort_keys=True)


def build_model(spec: ModelSpec, *, source: str = "model") -> torch.nn.Module:
    """A new model of ``spec.architecture`` with random weights.

    The configuration is checked (known settings, types, bounds, parameter
    count) before anything is allocated.

    Raises
    ------
    ModelFileError
        Naming ``source`` (the model file, or the options the spec came from).
    """
    try:
        model_class, config_class = ARCHITECTURES[spec.architecture]
    except KeyError:
        raise ModelFileError(
            f"{source}: unknown architecture {spec.architecture!r}; known: {sorted(ARCHITECTURES)}"
        ) from None
    config: Any = config_from_dict(config_class, spec.config, source)
    check_parameter_budget(lambda: model_class(config), source)
    return model_class(config)


LAYOUT_KEYS = {"n_channels": int, "channel_width": int, "ref_border": int, "butterfly": bool}


def _check_layouts(layouts: dict, meta: Path) -> None:
    """Each served layout names a channel count, width, reference border and butterfly of the right types."""
    for name, layout in layouts.items():
        if not isinstance(layout, dict) or set(layout) != set(LAYOUT_KEYS):
            raise ModelFileError(f"{meta}: layouts[{name!r}] must give exactly {sorted(LAYOUT_KEYS)}")
        for key, kind in LAYOUT_KEYS.items():
            value = layout[key]
            if type(value) is not kind or (isinstance(value, int) and not 0 <= value <= 1 << 20):
                raise ModelFileError(f"{meta}: layouts[{name!r}][{key!r}] = {value!r} is not a valid {kind.__name__}")
        if layout["n_channels"] < 1 or layout["channel_width"] < 1:
            raise ModelFileError(f"{meta}: layouts[{name!r}] needs at least one channel of one column")


def read_spec(meta: Path) -> ModelSpec:
    """The :class:`ModelSpec` of a model's JSON file, every field checked.

    Raises
    ------
    ModelFileError
        If the file cannot be read or any field is unknown, of the wrong type or out of bounds.
    """
    try:
        data = json.loads(meta.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFileError(f"{meta}: not a model description ({one_line(err)})") from None
    except RecursionError:
        raise ModelFileError(f"{meta}: not a model description (nested too deeply)") from None
    for key in ("architecture", "config", "geometry"):
        if not isinstance(data, dict) or key not in data:
            raise ModelFileError(f"{meta}: not a model description (no {key!r})")
    spec = config_from_dict(ModelSpec, data, str(meta))
    if spec.refcorr not in REFERENCE_METHODS:
        raise ModelFileError(f"{meta}: refcorr {spec.refcorr!r} is not one of {REFERENCE_METHODS}")
    try:
        spec.readout_geometry  # noqa: B018 - validates the geometry
    except (GeometryError, TypeError) as err:
        raise ModelFileError(f"{meta}: geometry is not valid ({one_line(err)})") from None
    _check_layouts(spec.layouts, meta)
    expected = INPUT_LAYOUTS.get(spec.architecture)
    if expected is not None and spec.input_layout != expected:
        raise ModelFileError(f"{meta}: input layout {spec.input_layout!r}, this version builds {expected!r}")
    return spec


def _paths(path: str | os.PathLike) -> tuple[Path, Path]:
    path = Path(path)
    if path.is_dir():
        path = path / "model.safetensors"
    if path.suffix == ".json":
        path = path.with_suffix(".safetensors")
    return path, path.with_suffix(".json")


def save_model(path: str | os.PathLike, model: torch.nn.Module, spec: ModelSpec, *, overwrite: bool = True) -> Path:
    """Write ``model`` weights (safetensors) and ``spec`` (JSON) atomically."""
    weights, meta = _paths(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_output(weights, overwrite=overwrite) as tmp:
        save_file(state, str(tmp), metadata={"architecture": spec.architecture, "version": spec.version})
        usual_permissions(tmp)
    with atomic_output(meta, overwrite=overwrite) as tmp:
        tmp.write_text(spec.to_json())
    return weights


def shipped_models() -> dict[str, Path]:
    """Models inside the package, by name (``default`` among them once trained and shipped)."""
    return {meta.stem: meta.with_suffix(".safetensors") for meta in sorted(SHIPPED_DIR.glob("*.json"))}


def is_model_path(name_or_path: str | os.PathLike) -> bool:
    """Whether ``--model`` names a file or folder (it has a folder separator or a model file's suffix), not a
    shipped model: ``./default`` is a path, ``default`` a shipped name, whatever the current folder holds."""
    if isinstance(name_or_path, os.PathLike):
        return True
    text = str(name_or_path)
    separators = tuple(s for s in (os.sep, os.altsep) if s)
    return any(s in text for s in separators) or text.endswith((".safetensors", ".json")) or text in (".", "..")


def resolve_model(name_or_path: str | os.PathLike) -> Path:
    """The weights file of a shipped model name (e.g. ``default``), or the path ``name_or_path``.

    A bare name is always a shipped model (see :func:`is_model_path`): a folder of the same name in the
    current folder never replaces it.

    Raises
    ------
    ModelFileError
        If the path does not exist, or no shipped model has the name.
    """
    if is_model_path(name_or_path):
        path = Path(name_or_path)
        if not path.exists():
            raise ModelFileError(f"{name_or_path}: no such model file or folder")
        return path
    shipped = shipped_models()
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    known = ", ".join(sorted(shipped)) or "none"
    hint = f"; a model here is given as a path, ./{name_or_path}" if Path(name_or_path).exists() else ""
    raise ModelFileError(f"{name_or_path}: no shipped model of that name (shipped: {known}){hint}")


def model_files(name_or_path: str | os.PathLike) -> list[Path]:
    """Every file and folder a model is read from: its weights and description, and its run folder when given
    as one (what an output must never replace). Empty when the model cannot be found (reported when loaded)."""
    try:
        path = resolve_model(name_or_path)
    except ModelFileError:
        return []
    weights, meta = _paths(path)
    return [weights, meta, *([path] if path.is_dir() else [])]


def load_model(path: str | os.PathLike, *, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, ModelSpec]:
    """Rebuild a model from its files (a run folder, ``NAME.safetensors`` or ``NAME.json``), in eval mode."""
    weights, meta = _paths(resolve_model(path))
    for needed in (weights, meta):
        if not needed.is_file():
            raise ModelFileError(f"{needed}: model file not found")
    spec = read_spec(meta)
    model = build_model(spec, source=f"{meta} config")
    try:
        state = load_file(str(weights))
    except Exception as err:  # safetensors raises several types for truncated or corrupt files
        raise ModelFileError(f"{weights}: not a readable safetensors file ({one_line(err)})") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise ModelFileError(f"{weights}: weights do not fit architecture {spec.architecture!r} ({first})") from None
    bad = [name for name, tensor in state.items() if tensor.is_floating_point() and not torch.isfinite(tensor).all()]
    if bad:
        raise ModelFileError(f"{weights}: weights hold NaN or inf values (in {bad[0]}{' and others' if len(bad) > 1 else ''})")
    spec = replace(spec, source=str(path), weights_sha256=_sha256(weights))
    recipe = spec.training.get("recipe", {})
    calibration = recipe.get("calibration") if isinstance(recipe, dict) else None
    if spec.takes_calibrated_input and calibration:
        # a model trained on sirs-corrected images carries its detector's calibration beside its weights
        spec = replace(spec, training={**spec.training, "calibration_path": str(_inside(weights.parent, calibration, meta))})
    return model.to(device).eval(), spec


def _sha256(path: Path) -> str:
    """The SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _inside(folder: Path, name: object, meta: Path) -> Path:
    """``folder / name``, refused unless it is a file name inside ``folder`` (a model's files stay in its folder)."""
    if not isinstance(name, str) or not name:
        raise ModelFileError(f"{meta}: training.recipe.calibration must be a file name, got {name!r}")
    target = folder / name
    if not os.path.realpath(target).startswith(os.path.join(os.path.realpath(folder), "")):
        raise ModelFileError(f"{meta}: calibration {name!r} lies outside the model's folder {folder}; "
                             "every file a model names must be inside its folder")
    return target


@dataclass(frozen=True)
class CatalogueEntry:
    """One line of ``hxrg models``: an architecture (published size) or a shipped model.

    ``geometry`` lists the readouts a shipped model serves (channels x channel width): the one it was
    trained for first, then those it was measured on; and
    ``figures`` the benchmark figures measured when it was shipped (kept in its JSON under
    ``training["bench"]``, with the command that measured them); both empty for an architecture.
    """

    name: str
    kind: str
    parameters: int
    geometry: str = ""
    figures: dict = field(default_factory=dict)


def catalogue() -> list[CatalogueEntry]:
    """Every architecture (published sizes) and shipped model, as :class:`CatalogueEntry`."""
    rows = []
    for name, (model_class, config_class) in ARCHITECTURES.items():
        rows.append(CatalogueEntry(name, "architecture", sum(p.numel() for p in model_class(config_class()).parameters())))
    for weights in shipped_models().values():
        model, spec = load_model(weights)
        g = spec.geometry
        layouts = [(g.get("name", "?"), g["n_channels"], g["n_cols"] // g["n_channels"])]
        layouts += [(name, lay["n_channels"], lay["channel_width"]) for name, lay in spec.layouts.items()]
        geometry = ", ".join(f"{name}: {n} x {width}" for name, n, width in layouts)
        rows.append(CatalogueEntry(spec.name, f"shipped ({spec.architecture})", sum(p.numel() for p in model.parameters()),
                                   geometry, dict(spec.training.get("bench", {}))))
    return rows
