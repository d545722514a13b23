"""``PretrainedConfig``: a config object made of typed fields, with extra keys kept."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mf_config.fields import Field
from mf_config.fileio import atomic_write
from mf_config.sources import CONFIG_NAME, config_as, config_from_yaml, identify


class PretrainedConfig:
    """Base of every config class: fields declared as ``name = Field(...)`` class attributes.

    ``Cls(**kwargs)`` checks each known key's type and keeps unknown keys as attributes too
    (``extra_keys()`` lists them). ``to_dict``/``from_dict`` and ``save_pretrained``/
    ``from_pretrained`` (a folder with ``config.json``, a JSON file or a YAML) round-trip.
    """

    model_type = ""
    fields: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        fields = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if isinstance(value, Field):
                    fields[name] = value
        cls.fields = fields

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("type", None)
        for name, field in self.fields.items():
            value = kwargs.pop(name) if name in kwargs else field.default_value()
            object.__setattr__(self, name, self._coerce(name, field, value))
        object.__setattr__(self, "_extra", set(kwargs))
        for name, value in kwargs.items():
            object.__setattr__(self, name, value)
        self.validate()

    def _coerce(self, name, field, value):
        nested = _NESTED.get(name)
        if nested is not None and isinstance(value, dict):
            return nested.from_dict(value)
        if nested is not None and isinstance(value, nested):
            return value
        return field.coerce(name, value)

    def __setattr__(self, name, value):
        field = self.fields.get(name)
        if field is not None:
            value = self._coerce(name, field, value)
        elif not name.startswith("_"):
            self._extra.add(name)
        object.__setattr__(self, name, value)

    def validate(self) -> None:
        """Check relations between fields; raise ConfigError naming the key. Subclasses extend it."""

    def extra_keys(self) -> list[str]:
        """Keys this class does not declare, kept as given."""
        return sorted(self._extra)

    def __eq__(self, other):
        return type(self) is type(other) and self.to_dict() == other.to_dict()

    def __repr__(self):
        return f"{type(self).__name__}({json.dumps(self.to_dict(), default=str)})"

    def to_dict(self) -> dict[str, Any]:
        """Every field and extra key, nested configs as dicts; ``type`` names the class."""
        out = {"type": type(self).__name__}
        for name in [*self.fields, *sorted(self._extra)]:
            value = getattr(self, name)
            out[name] = value.to_dict() if isinstance(value, PretrainedConfig) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], **overrides: Any) -> PretrainedConfig:
        return cls(**{**dict(data), **overrides})

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, overrides: Sequence[str] = ()) -> PretrainedConfig:
        """From a MindFormers task YAML (``model.model_config`` plus the top-level ``parallel_config`` and
        ``moe_config``) or from a YAML of this config's keys alone."""
        return config_as(config_from_yaml(path, overrides, default_type=cls.__name__)[0], cls, path)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike) -> PretrainedConfig:
        """From anything ``mf_config.sources.identify`` reads: a folder holding ``config.json`` (ours or a
        Hugging Face one), a JSON file, a YAML, or weights beside a config.json."""
        return config_as(identify(path, default_type=cls.__name__).config, cls, path)

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Write ``config.json`` (our field names) into ``directory``; returns its path."""
        path = Path(directory) / CONFIG_NAME
        with atomic_write(path) as f:
            json.dump(self.to_dict(), f, indent=2)
            f.write("\n")
        return path


_NESTED = {}


def nested(name, cls):
    """Declare that field ``name`` holds a config of class ``cls`` (built from a dict)."""
    _NESTED[name] = cls
