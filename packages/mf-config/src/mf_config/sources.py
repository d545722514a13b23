"""What is this file or folder? ``identify(path)`` answers for every mf package, with the model config it implies.

``ModelSource.kind``:

- ``task_yaml``: a MindFormers task YAML (``model.model_config``, ``model.arch.type``, its other sections);
- ``config_yaml``: a YAML of one config's own keys;
- ``config_json``: a ``config.json`` file, ours (``type``) or Hugging Face's (``model_type``);
- ``hf_folder``: a Hugging Face model folder (its config.json has ``model_type``; weights in HF's names);
- ``mf_folder``: our model folder (config.json with ``type``; weights in MindFormers' names);
- ``weights``: a weights file (``.safetensors``, ``.ckpt``, ``.bin``, a shard index) or folder, its config
  given (``config=``: a MindFormers checkpoint plus its task YAML) or the ``config.json`` beside it.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mf_config import jsonio
from mf_config.config import MFConfig, did_you_mean, load_config, parse_override
from mf_config.errors import ConfigError
from mf_config.hf import from_hf_dict
from mf_config.registry import get, known
from mf_config.spec import FamilySpec, config_class_named, config_classes, family_of

CONFIG_NAME = "config.json"
YAML_SUFFIXES = (".yaml", ".yml")
WEIGHT_SUFFIXES = (".safetensors", ".ckpt", ".bin", ".pt", ".pth")
WEIGHT_PATTERNS = ("*.safetensors", "*.safetensors.index.json", "*.bin", "*.ckpt")
MAX_CONFIG_JSON = 16 << 20  # a model's config.json is a few KB


@dataclass(frozen=True)
class ModelSource:
    """What ``path`` is (``kind``, see the module docstring) and what it implies.

    ``config``: the model config; ``config_file``: where it was read; ``weights``: the weights file or folder
    (None when the path holds none); ``hf_names``: the weights carry Hugging Face's tensor names (the config
    is HF's); ``arch``: a task YAML's ``model.arch.type``; ``task``: the loaded task YAML.
    """

    kind: str
    path: Path
    config: Any
    config_file: Path
    weights: Path | None = None
    hf_names: bool = False
    arch: str | None = None
    task: MFConfig | None = None

    @property
    def family(self) -> FamilySpec:
        return family_of(self.config)


def identify(path: str | Path, config: str | Path | None = None, overrides: Sequence[str] | Mapping[str, Any] = (),
             default_type: str | None = None) -> ModelSource:
    """What ``path`` holds (see the module docstring). ``config``: the config of weights at ``path`` (a task
    YAML, a config.json or a folder holding one). ``overrides``: dotted ``KEY=VALUE`` for a YAML, ``KEY=VALUE``
    (``moe_config.expert_num=8``) on the config otherwise. ``default_type``: the config class of a file that
    names none. Errors are ConfigErrors naming the file and key."""
    path = Path(path)
    if config is not None:
        source = identify(config, overrides=overrides, default_type=default_type)
        if source.kind == "weights":
            raise ConfigError("expected a config (a task YAML, a config.json or a model folder), got weights",
                              file=config, key="config")
        if not path.exists():
            raise ConfigError("no such file or folder", file=path)
        return replace(source, kind="weights", path=path, weights=path)
    if not path.exists():
        raise ConfigError("no such file or folder", file=path)
    if path.is_dir():
        return _folder(path, overrides, default_type)
    if path.suffix.lower() in YAML_SUFFIXES:
        return _yaml(path, overrides, default_type or "LlamaConfig")
    if path.suffix.lower() in WEIGHT_SUFFIXES or path.name.endswith(".index.json"):
        beside = path.parent / CONFIG_NAME
        if not beside.is_file():
            raise ConfigError(f"no {CONFIG_NAME} beside it; pass --config", file=path)
        return replace(_json(beside, overrides, default_type), kind="weights", path=path, weights=path)
    if path.suffix.lower() == ".json":
        return _json(path, overrides, default_type)
    raise ConfigError("not a model file: expected a task YAML, a config.json, weights (.safetensors, .ckpt, .bin) "
                      "or a model folder", file=path)


def load_model_config(path: str | Path, overrides: Sequence[str] | Mapping[str, Any] = (),
                      default_type: str | None = None) -> Any:
    """The model config of a task YAML, a config.json (ours or HF's), a model folder or weights beside one."""
    return identify(path, overrides=overrides, default_type=default_type).config


def has_weights(folder: Path) -> bool:
    """Whether ``folder`` holds weights files (safetensors, their index, .bin or .ckpt)."""
    return any(next(folder.glob(pattern), None) is not None for pattern in WEIGHT_PATTERNS)


def _folder(folder, overrides, default_type):
    file = folder / CONFIG_NAME
    if not file.is_file():
        what = "weights but" if has_weights(folder) else "no weights and"
        raise ConfigError(f"the folder holds {what} no {CONFIG_NAME}; pass --config", file=folder)
    source = _json(file, overrides, default_type)
    return replace(source, kind="hf_folder" if source.hf_names else "mf_folder", path=folder,
                   weights=folder if has_weights(folder) else None)


def _json(path, overrides, default_type):
    data = read_config_json(path)
    hf = "type" not in data and "model_type" in data
    try:
        if hf:
            config = from_hf_dict(data)
        else:
            name = data.get("type") or default_type
            if name is None:
                raise ConfigError(f"'type' must be one of {', '.join(config_classes())} (or a Hugging Face "
                                  "'model_type')", key="type")
            config = config_class(name).from_dict(data)
        apply_overrides(config, overrides)
    except ConfigError as e:
        raise ConfigError(e.message, file=e.file or path, key=e.key) from None
    return ModelSource("config_json", path, config, path, hf_names=hf)


def _yaml(path, overrides, default_type):
    config, cfg = config_from_yaml(path, overrides, default_type)
    if not is_task(cfg):
        return ModelSource("config_yaml", path, config, path)
    arch = (cfg.model.get("arch") or {}).get("type")
    return ModelSource("task_yaml", path, config, path, arch=arch, task=cfg)


def is_task(cfg: MFConfig) -> bool:
    """Whether a loaded YAML is a MindFormers task file (it has a ``model.model_config`` section)."""
    return isinstance(cfg.get("model"), dict) and "model_config" in cfg.model


def config_from_yaml(path: str | Path, overrides=(), default_type: str = "LlamaConfig") -> tuple[Any, MFConfig]:
    """(model config, loaded YAML) of a MindFormers task YAML (``model.model_config`` plus the top-level
    ``parallel_config`` and ``moe_config``) or of a YAML of one config's own keys."""
    cfg = load_config(path, overrides)
    if is_task(cfg):
        return model_config_from_task(cfg, default_type), cfg
    try:
        return config_class(cfg.get("type", default_type)).from_dict(cfg), cfg
    except ConfigError as e:
        line = (cfg.where(e.key) or (None, None))[1] if e.key else None
        raise ConfigError(e.message, file=path, key=e.key, line=line) from None


def model_config_from_task(cfg: MFConfig, default_type: str = "LlamaConfig") -> Any:
    """The model config of a loaded task config (``model.model_config`` with the top-level ``moe_config``
    and ``parallel_config``); errors name the file, the dotted key and its line."""
    model = cfg.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("model_config"), dict):
        raise ConfigError("expected a model.model_config section", file=cfg.file(), key="model.model_config")
    try:
        return model_config_from_section(model["model_config"], cfg.get("moe_config"), cfg.get("parallel_config"),
                                         default_type=default_type)
    except ConfigError as e:
        key = f"model.model_config.{e.key}" if e.key else "model.model_config"
        file, line = cfg.where(key) or (cfg.file(), None)
        raise ConfigError(e.message, file=cfg.file() if file == "override" else file, key=key, line=line) from None


def model_config_from_section(section: dict, moe_config: dict | None = None, parallel_config: dict | None = None,
                              default_type: str = "LlamaConfig") -> Any:
    """The config object of a ``model.model_config`` section (its ``type`` names the class)."""
    data = dict(section)
    cls = config_class(data.get("type", default_type))  # a class auto_register brought in too
    if moe_config is not None and "moe_config" not in data:
        data["moe_config"] = dict(moe_config)
    if parallel_config is not None and "parallel_config" not in data:
        data["parallel_config"] = dict(parallel_config)
    return cls.from_dict(data)


def config_class(name: str) -> type:
    """A model config class (``config_class_named``), or another registered config class (``ParallelConfig``)."""
    if name not in config_classes() and name in known("config"):
        return get("config", name)
    return config_class_named(name)


def apply_overrides(config: Any, overrides) -> Any:
    """Set ``KEY=VALUE`` items (dotted for nested configs: ``moe_config.expert_num=8``) on ``config``; checked."""
    for item in overrides:
        parts, value = parse_override(item)
        target = config
        for part in parts[:-1]:
            target = getattr(target, part)
        fields = getattr(type(target), "fields", None)
        if fields is not None and parts[-1] not in fields:
            raise ConfigError(f"unknown key of {type(target).__name__}{did_you_mean(parts[-1], fields)}",
                              key=f"--set {'.'.join(parts)}")
        setattr(target, parts[-1], value)
    if overrides:
        config.validate()
    return config


def config_as(config: Any, cls: type, path: str | Path) -> Any:
    """``config`` as a ``cls``: built again as ``cls`` when it is of a base class (LlamaConfig -> MixtralConfig)."""
    if type(config) is not cls and issubclass(cls, type(config)):
        return cls.from_dict(config.to_dict())
    if not isinstance(config, cls):
        raise ConfigError(f"holds a {type(config).__name__}, not a {cls.__name__}", file=path)
    return config


def read_config_json(path: str | Path) -> dict:
    """The JSON object in ``path``, read with bounds (:mod:`mf_config.jsonio`); a missing file, bad JSON, text that
    is not UTF-8, nesting too deep, a huge integer or a non-object is a ConfigError."""
    data = jsonio.load(path, error=ConfigError, max_bytes=MAX_CONFIG_JSON)
    if not isinstance(data, dict):
        raise ConfigError("expected a JSON object", file=path)
    return data
