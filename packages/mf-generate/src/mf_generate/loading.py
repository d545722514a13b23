"""The model and tokenizer a user names: our model folder, a Hugging Face folder (its weights read straight into
the network through the family's rules), or a MindFormers task YAML (``model.model_config``, ``model.arch``,
``processor.tokenizer``) plus a checkpoint (our folder, a ``.safetensors``/``.ckpt`` file, or a Hugging Face
folder). What a path is, ``mf_config.identify`` says."""

from pathlib import Path

from mf_config.registry import import_user_module
from mf_config.sources import identify
from mf_generate.errors import GenerationError
from mf_models.auto import network_class

TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json", "tokenizer.model", "vocab.json")


def has_tokenizer(path):
    """Whether the folder ``path`` holds tokenizer files."""
    path = Path(path)
    return path.is_dir() and any((path / name).is_file() for name in TOKENIZER_FILES)


def import_register_path(register_path):
    """Import the user package ``register_path`` (a folder with ``__init__.py``), as MindFormers'
    ``--register_path``: the classes it registers (``@register("model")``) become ``type:`` names."""
    folder = Path(register_path).resolve()
    if not (folder / "__init__.py").is_file():
        raise GenerationError("expected a folder with __init__.py (a package that registers classes)",
                              file=folder, key="register_path")
    import_user_module(folder.name, folder.parent)


def load_model(source, checkpoint=None, overrides=()):
    """(model, config): the network that ``source`` describes (a task YAML or a model folder, ours or Hugging
    Face's, with dotted ``overrides``), with the weights of ``checkpoint`` (default: the folder itself)."""
    source = Path(source)
    if not source.exists():
        raise GenerationError("no such file or folder", file=source)
    found = identify(source, overrides=overrides)
    model = network_class(found.config, found.arch)(found.config)
    weights = checkpoint if checkpoint is not None else (source if source.is_dir() else None)
    if weights is None:
        raise GenerationError("no weights: pass --load_checkpoint or set load_checkpoint in the YAML",
                              file=source, key="load_checkpoint")
    load_weights(model, weights)
    return model, found.config


def load_weights(model, path):
    """Load ``path`` into ``model``: our folder or weights file, or a Hugging Face folder (read through the
    family's weight rules, no converted copy)."""
    path = Path(path)
    if not path.exists():
        raise GenerationError("no such checkpoint file or folder", file=path, key="load_checkpoint")
    model.load_weights(path)
    return model


def load_pretrained(path, overrides=()):
    """(model, config) of a model folder, ours or Hugging Face's."""
    return load_model(path, None, overrides)
