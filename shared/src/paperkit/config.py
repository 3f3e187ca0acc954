"""Config dataclasses built from a module's hyperparameters by name (never by position).

A LightningModule takes plain typed arguments (so LightningCLI can build ``--help`` and YAML from them) and keeps the
model's config dataclass as ``self.cfg``::

    self.save_hyperparameters()
    self.cfg = config_from(EEGEncoderConfig, self.hparams, use_transformer=arch != "eegencoder_no_transformer")

Every field present in ``hparams`` is taken by its name; a field whose type is itself a dataclass is built the same
way from the same hyperparameters; ``overrides`` set derived fields. The workspace contract test checks that every
field is a constructor argument of the module or a declared derived field.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

__all__ = ["config_fields", "config_from"]

T = TypeVar("T")


def _dataclass_type(cls: type, field: dataclasses.Field) -> type | None:
    hint = typing.get_type_hints(cls).get(field.name, field.type)
    return hint if isinstance(hint, type) and dataclasses.is_dataclass(hint) else None


def config_from(cls: type[T], hparams: Mapping[str, Any], **overrides: Any) -> T:
    """``cls(**{field: hparams[field]})`` for the fields ``hparams`` has; nested dataclass fields recursively."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.name in overrides:
            kwargs[f.name] = overrides[f.name]
        elif f.name in hparams:
            kwargs[f.name] = hparams[f.name]
        elif (sub := _dataclass_type(cls, f)) is not None:
            kwargs[f.name] = config_from(sub, hparams)
    unknown = set(overrides) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {sorted(unknown)}")
    return cls(**kwargs)


def config_fields(obj: Any, prefix: str = "") -> dict[str, Any]:
    """The leaf fields of a (nested) config dataclass instance: ``{"name": value}`` (nested ones as ``a.b``)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            out.update(config_fields(value, f"{prefix}{f.name}."))
        else:
            out[f"{prefix}{f.name}"] = value
    return out
