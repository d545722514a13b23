"""The model and tokenizer a user names: our model folder, a Hugging Face folder (converted on the fly with
mf-ckpt), or a MindFormers task YAML (``model.model_config``, ``model.arch``, ``processor.tokenizer``) plus a
checkpoint (our folder, a ``.safetensors``/``.ckpt`` file, or a Hugging Face folder)."""

import json
import tempfile
from pathlib import Path

from mf_config.pretrained import CONFIG_NAME
from mf_generate.errors import GenerationError

TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json", "tokenizer.model", "vocab.json")


def is_hf_folder(path):
    """Whether ``path`` is a Hugging Face model folder (its config.json has ``model_type``, not our ``type``)."""
    config = Path(path) / CONFIG_NAME
    if not config.is_file():
        return False
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (ValueError, RecursionError):  # not JSON, not UTF-8, too deep: not a Hugging Face config
        return False
    return isinstance(data, dict) and "type" not in data and "model_type" in data


def has_tokenizer(path):
    """Whether the folder ``path`` holds tokenizer files."""
    path = Path(path)
    return path.is_dir() and any((path / name).is_file() for name in TOKENIZER_FILES)


def import_register_path(register_path):
    """Import the user package ``register_path`` (a folder with ``__init__.py``), as MindFormers'
    ``--register_path``: the classes it registers (``@register("model")``) become ``type:`` names."""
    from mf_config.registry import import_user_module

    folder = Path(register_path).resolve()
    if not (folder / "__init__.py").is_file():
        raise GenerationError("expected a folder with __init__.py (a package that registers classes)",
                              file=folder, key="register_path")
    import_user_module(folder.name, folder.parent)


def load_model(source, checkpoint=None, overrides=()):
    """(model, config): the network that ``source`` describes (a task YAML or a model folder, ours or Hugging
    Face's, with dotted ``overrides``), with the weights of ``checkpoint`` (default: the folder itself)."""
    from mf_config.registry import get
    from mf_models.auto import config_from_file

    source = Path(source)
    if not source.exists():
        raise GenerationError("no such file or folder", file=source)
    config, arch = config_from_file(source, overrides)
    model = get("model", arch)(config)
    weights = checkpoint if checkpoint is not None else (source if source.is_dir() else None)
    if weights is None:
        raise GenerationError("no weights: pass --load_checkpoint or set load_checkpoint in the YAML",
                              file=source, key="load_checkpoint")
    load_weights(model, weights)
    return model, config


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


def load_pretrained(path, overrides=()):
    """(model, config) of a model folder, ours or Hugging Face's."""
    return load_model(path, None, overrides)
