"""``PretrainedConfig``: a config object made of typed fields, with extra keys kept."""

import json
from pathlib import Path

from mf_config import jsonio
from mf_config.config import load_config
from mf_config.errors import ConfigError
from mf_config.fields import Field
from mf_config.fileio import atomic_write

CONFIG_NAME = "config.json"


MAX_CONFIG_JSON = 16 << 20  # a model's config.json is a few KB


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

    def __init__(self, **kwargs):
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

    def validate(self):
        """Check relations between fields; raise ConfigError naming the key. Subclasses extend it."""

    def extra_keys(self):
        """Keys this class does not declare, kept as given."""
        return sorted(self._extra)

    def __eq__(self, other):
        return type(self) is type(other) and self.to_dict() == other.to_dict()

    def __repr__(self):
        return f"{type(self).__name__}({json.dumps(self.to_dict(), default=str)})"

    def to_dict(self):
        """Every field and extra key, nested configs as dicts; ``type`` names the class."""
        out = {"type": type(self).__name__}
        for name in [*self.fields, *sorted(self._extra)]:
            value = getattr(self, name)
            out[name] = value.to_dict() if isinstance(value, PretrainedConfig) else value
        return out

    @classmethod
    def from_dict(cls, data, **overrides):
        return cls(**{**dict(data), **overrides})

    @classmethod
    def from_yaml(cls, path, overrides=()):
        """From a MindFormers task YAML (``model.model_config`` plus the top-level
        ``parallel_config`` and ``moe_config``) or from a YAML of this config's keys alone."""
        cfg = load_config(path, overrides)
        if isinstance(cfg.get("model"), dict) and "model_config" in cfg.model:
            from mf_config.model_configs import model_config_from_task

            config = model_config_from_task(cfg, default_type=cls.__name__)
        else:
            try:
                config = cls.from_dict(cfg)
            except ConfigError as e:
                raise ConfigError(e.message, file=path, key=e.key, line=cfg._sources.get(e.key, (None, None))[1]) \
                    from None
        return _checked(config, cls, path)

    @classmethod
    def from_pretrained(cls, path):
        """From a folder holding ``config.json`` (ours or a Hugging Face one), a JSON file or a YAML."""
        path = Path(path)
        if path.is_dir():
            path = path / CONFIG_NAME
        if path.suffix in (".yaml", ".yml"):
            return cls.from_yaml(path)
        data = read_config_json(path)
        try:
            if "type" not in data and "model_type" in data:
                from mf_config.hf import from_hf_dict

                return _checked(from_hf_dict(data), cls, path)
            return cls.from_dict(data)
        except ConfigError as e:
            raise ConfigError(e.message, file=path, key=e.key) from None

    def save_pretrained(self, directory):
        """Write ``config.json`` (our field names) into ``directory``; returns its path."""
        path = Path(directory) / CONFIG_NAME
        with atomic_write(path) as f:
            json.dump(self.to_dict(), f, indent=2)
            f.write("\n")
        return path


def read_config_json(path):
    """The JSON object in ``path``; a missing file, bad JSON (or not UTF-8, too deep) or a non-object is a
    ConfigError."""
    data = jsonio.load(path, error=ConfigError, max_bytes=MAX_CONFIG_JSON)
    if not isinstance(data, dict):
        raise ConfigError("expected a JSON object", file=path)
    return data


def _checked(config, cls, path):
    """``config`` as a ``cls``: built again as ``cls`` when it is of a base class (LlamaConfig -> MixtralConfig)."""
    if type(config) is not cls and issubclass(cls, type(config)):
        return cls.from_dict(config.to_dict())
    if not isinstance(config, cls):
        raise ConfigError(f"holds a {type(config).__name__}, not a {cls.__name__}", file=path)
    return config


_NESTED = {}


def nested(name, cls):
    """Declare that field ``name`` holds a config of class ``cls`` (built from a dict)."""
    _NESTED[name] = cls
