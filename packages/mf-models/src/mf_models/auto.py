"""``AutoModel``: the network a config, a MindFormers task YAML or a saved folder names, through the registry."""

import json
from pathlib import Path

from mf_config import load_config, model_config_from_section, parse_override
from mf_config.model_configs import MODEL_CONFIGS
from mf_config.pretrained import CONFIG_NAME
from mf_config.registry import get
from mf_models.modeling import ModelError
from mf_models.specs import ARCHITECTURES


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
        config = model_config_from_section(model["model_config"], moe_config=cfg.get("moe_config"),
                                           parallel_config=cfg.get("parallel_config"))
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


class AutoModel:
    """Build or load the network of a config: ``from_config(config | yaml | folder)``, ``from_pretrained(folder)``."""

    @staticmethod
    def from_config(config, overrides=()):
        """A freshly initialised network for a config object, a task YAML (its ``model.arch.type``) or a
        ``config.json`` (file or folder); ``overrides`` are ``key=value`` strings (dotted for a YAML)."""
        if isinstance(config, (str, Path)):
            config, arch = config_from_file(config, overrides)
        else:
            arch = ARCHITECTURES[type(config).__name__]
        return get("model", arch)(config)

    @staticmethod
    def from_pretrained(directory):
        """The network saved by ``save_pretrained`` in ``directory`` (config.json plus weights)."""
        config, arch = config_from_file(directory)
        model = get("model", arch)(config)
        model.load_weights(directory)
        return model
