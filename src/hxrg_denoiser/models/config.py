"""Configuration dataclasses validated against their fields before any model is built.

A setting is declared with :func:`setting`: its default and the bounds a
sane value lies in. :func:`config_from_dict` turns the ``config`` of a model
file, or ``--model-set`` changes, into the dataclass, refusing unknown keys,
wrong types and values out of bounds with one line that names the source;
:func:`check_parameter_budget` counts a configuration's parameters without
allocating them and refuses a network too large to be meant.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from dataclasses import field
from typing import Any, TypeVar

import torch

from hxrg_denoiser.errors import ModelFileError

__all__ = ["setting", "config_from_dict", "check_parameter_budget", "MAX_PARAMETERS"]

MAX_PARAMETERS = 200_000_000  # far above any network here (15 M for payeur2022)

Config = TypeVar("Config")


def setting(
    default: Any, low: float | None = None, high: float | None = None, *, odd: bool = False, length: int | None = None
) -> Any:
    """A configuration field with its default and inclusive bounds (for lists, bounds of every element).

    ``odd`` asks for odd values (kernel sizes); ``length`` fixes a list's length.
    """
    metadata = {"low": low, "high": high, "odd": odd, "length": length}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def _check_number(name: str, value: Any, kind: type, meta: Mapping[str, Any], source: str) -> Any:
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ModelFileError(f"{source}: setting {name} = {value!r} must be an integer")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ModelFileError(f"{source}: setting {name} = {value!r} must be a finite number")
        value = float(value)
    low, high = meta.get("low"), meta.get("high")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ModelFileError(f"{source}: setting {name} = {value!r} is outside {low} .. {high}")
    if meta.get("odd") and value % 2 == 0:
        raise ModelFileError(f"{source}: setting {name} = {value!r} must be odd")
    return value


def config_from_dict(cls: type[Config], data: Any, source: str) -> Config:
    """Build configuration ``cls`` from ``data``, checking every key, type and bound.

    Parameters
    ----------
    cls : dataclass type
        Fields declared with :func:`setting` (others are type-checked only).
    data : dict
    source : str
        The file or option the data come from, for messages.

    Raises
    ------
    ModelFileError
        On an unknown key, a wrong type or a value out of bounds.
    """
    if not isinstance(data, dict):
        raise ModelFileError(f"{source}: configuration must be a mapping of settings, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]  # cls is a dataclass
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ModelFileError(f"{source}: unknown {cls.__name__} setting(s) {unknown}; known: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in data.items():
        kind, meta = hints[name], fields[name].metadata
        if typing.get_origin(kind) is list:
            (element,) = typing.get_args(kind)
            length = meta.get("length")
            if not isinstance(value, list) or not value or (length is not None and len(value) != length):
                size = f"{length} values" if length is not None else "a non-empty list"
                raise ModelFileError(f"{source}: setting {name} = {value!r} must be {size}")
            values[name] = [_check_number(name, v, element, meta, source) for v in value]
        elif kind in (int, float):
            values[name] = _check_number(name, value, kind, meta, source)
        elif kind in (str, dict) and not isinstance(value, kind):
            raise ModelFileError(f"{source}: setting {name} = {value!r} must be {'text' if kind is str else 'a mapping'}")
        else:
            values[name] = value
    return cls(**values)


def check_parameter_budget(build: typing.Callable[[], torch.nn.Module], source: str) -> int:
    """Count the parameters ``build()`` would make, on the meta device (nothing allocated).

    Raises
    ------
    ModelFileError
        If the network would have more than :data:`MAX_PARAMETERS` parameters.
    """
    with torch.device("meta"):
        count = sum(p.numel() for p in build().parameters())
    if count > MAX_PARAMETERS:
        raise ModelFileError(f"{source}: this configuration has {count:,} parameters, more than the "
                             f"{MAX_PARAMETERS:,} any model here is allowed")
    return count
