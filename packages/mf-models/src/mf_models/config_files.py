"""Model configs from files: a MindFormers task YAML, our ``config.json`` or a Hugging Face ``config.json``.

No mindspore here: the CLI reads configs and counts parameters without building a network.
"""

import json
from pathlib import Path

from mf_config import load_config, model_config_from_section, parse_override
from mf_config.errors import ConfigError, MFError
from mf_config.model_configs import MODEL_CONFIGS
from mf_config.pretrained import CONFIG_NAME
from mf_models.specs import ARCHITECTURES


class ModelError(MFError):
    """A model file, config or input is not what the model expects."""


def config_from_file(path, overrides=()):
    """(model config, architecture name) of a MindFormers task YAML (``model.model_config`` and
    ``model.arch.type``), of our ``config.json`` or of a Hugging Face ``config.json`` (or their folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / CONFIG_NAME
    if path.suffix in (".yaml", ".yml"):
        cfg = load_config(path, overrides)
        model = cfg.get("model") or {}
        if "model_config" not in model:
            raise ModelError("expected a model.model_config section", file=path, key="model.model_config")
        try:
            config = model_config_from_section(model["model_config"], moe_config=cfg.get("moe_config"),
                                               parallel_config=cfg.get("parallel_config"))
        except ConfigError as e:
            key = f"model.model_config.{e.key}" if e.key else None
            raise ConfigError(e.message, file=path, key=key) from None
        arch = (model.get("arch") or {}).get("type") or ARCHITECTURES[type(config).__name__]
        return config, arch
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError("no such file", file=path) from None
    except json.JSONDecodeError as e:
        raise ModelError(f"invalid JSON: {e.msg}", file=path, line=e.lineno) from None
    if not isinstance(data, dict):
        raise ModelError("expected a JSON object", file=path)
    cls = MODEL_CONFIGS.get(data.get("type"))
    if cls is None and "model_type" not in data:
        raise ModelError(f"'type' must be one of {', '.join(MODEL_CONFIGS)} (or a Hugging Face 'model_type')",
                         file=path, key="type")
    if cls is None:
        from mf_config.hf import from_hf_dict

        config = from_hf_dict(data)
    else:
        config = cls.from_pretrained(path)
    for item in overrides:
        parts, value = parse_override(item)
        target = config
        for part in parts[:-1]:
            target = getattr(target, part)
        setattr(target, parts[-1], value)
    config.validate()
    return config, ARCHITECTURES[type(config).__name__]
