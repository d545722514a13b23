"""The model and tokenizer a user names: our model folder, a Hugging Face folder (converted on the fly with
mf-ckpt), or a MindFormers YAML (``model.model_config``, ``model.arch``, ``processor.tokenizer``) plus a
checkpoint (our folder, a ``.safetensors``/``.ckpt`` file, or a Hugging Face folder)."""

import json
import tempfile
from pathlib import Path

from mf_config.pretrained import CONFIG_NAME
from mf_generate.errors import GenerationError

# The network of each config class when no ``model.arch.type`` names it (MindFormers' default archs).
ARCH_OF_CONFIG = {"LlamaConfig": "LlamaForCausalLM", "MixtralConfig": "LlamaForCausalLM",
                  "GPT2Config": "GPT2LMHeadModel", "BloomConfig": "BloomLMHeadModel"}
TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json", "tokenizer.model", "vocab.json")


def is_hf_folder(path):
    """Whether ``path`` is a Hugging Face model folder (its config.json has ``model_type``, not our ``type``)."""
    config = Path(path) / CONFIG_NAME
    if not config.is_file():
        return False
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and "type" not in data and "model_type" in data


def has_tokenizer(path):
    path = Path(path)
    return path.is_dir() and any((path / name).is_file() for name in TOKENIZER_FILES)


def folder_config(path):
    """Our model config of a model folder (ours or Hugging Face's)."""
    from mf_ckpt.convert import load_model_config

    path = Path(path)
    if not (path / CONFIG_NAME).is_file():
        raise GenerationError(f"no {CONFIG_NAME}: expected a model folder (config.json + weights)", file=path)
    return load_model_config(path)


def with_overrides(config, **overrides):
    """A copy of a model config with some fields replaced (``None`` values are left alone)."""
    data = config.to_dict()
    data.update({k: v for k, v in overrides.items() if v is not None})
    return type(config).from_dict(data)


def build_model(config, arch=None, register_path=None):
    """The network ``arch`` (a registered model name or a ``model.arch`` section; default: the config's family)."""
    from mf_config.registry import build

    section = dict(arch) if isinstance(arch, dict) else {"type": arch or ARCH_OF_CONFIG.get(type(config).__name__)}
    if not section.get("type"):
        raise GenerationError(f"no network known for {type(config).__name__}; name one in model.arch.type",
                              key="model.arch.type")
    return build(section, "model", register_path=register_path, config=config)


def load_weights(model, path):
    """Load ``path`` into ``model``: our folder or weights file, or a Hugging Face folder (converted first)."""
    path = Path(path)
    if not path.exists():
        raise GenerationError("no such checkpoint file or folder", file=path, key="load_checkpoint")
    if path.is_dir() and is_hf_folder(path):
        from mf_ckpt.convert import convert

        with tempfile.TemporaryDirectory(prefix="mf-generate-") as tmp:
            convert(path, Path(tmp) / "model")
            model.load_weights(Path(tmp) / "model")
    else:
        model.load_weights(path)
    return model


def load_pretrained(path, **config_overrides):
    """(model, config) of a model folder, ours or Hugging Face's, with ``config_overrides`` applied."""
    config = with_overrides(folder_config(path), **config_overrides)
    return load_weights(build_model(config), path), config
