"""Model configs from files: a MindFormers task YAML, our ``config.json`` or a Hugging Face ``config.json``.

No mindspore here: the CLI reads configs and counts parameters without building a network.
"""

from pathlib import Path

from mf_config import load_config, parse_override
from mf_config.errors import ConfigError, MFError
from mf_config.hf import from_hf_dict
from mf_config.model_configs import MODEL_CONFIGS, model_config_from_task
from mf_config.pretrained import CONFIG_NAME, read_config_json
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
        config = model_config_from_task(cfg)
        arch = (cfg.model.get("arch") or {}).get("type") or ARCHITECTURES[type(config).__name__]
        return config, arch
    data = read_config_json(path)
    cls = MODEL_CONFIGS.get(data.get("type"))
    if cls is None and "model_type" not in data:
        raise ModelError(f"'type' must be one of {', '.join(MODEL_CONFIGS)} (or a Hugging Face 'model_type')",
                         file=path, key="type")
    try:
        config = cls.from_dict(data) if cls is not None else from_hf_dict(data)
    except ConfigError as e:
        raise ConfigError(e.message, file=path, key=e.key) from None
    for item in overrides:
        parts, value = parse_override(item)
        target = config
        for part in parts[:-1]:
            target = getattr(target, part)
        setattr(target, parts[-1], value)
    config.validate()
    return config, ARCHITECTURES[type(config).__name__]
