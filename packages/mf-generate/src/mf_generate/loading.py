"""The model and tokenizer a user names: our model folder, a Hugging Face folder (its weights read straight into
the network through the family's rules), or a MindFormers task YAML (``model.model_config``, ``model.arch``,
``processor.tokenizer``) plus a checkpoint (our folder, a ``.safetensors``/``.ckpt`` file, or a Hugging Face
folder). What a path is, ``mf_config.identify`` says."""

from pathlib import Path

from mf_config.registry import auto_register_sections
from mf_config.sources import identify
from mf_generate.errors import GenerationError
from mf_models.auto import from_source
from mf_models.weights import named_checkpoint

TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json", "tokenizer.model", "vocab.json")


def has_tokenizer(path):
    """Whether the folder ``path`` holds tokenizer files."""
    path = Path(path)
    return path.is_dir() and any((path / name).is_file() for name in TOKENIZER_FILES)


def import_register_path(register_path, task=None):
    """MindFormers' ``--register_path``: the classes the task config's ``auto_register`` keys name (model.arch,
    processor.tokenizer, ...), each imported from that folder alone (a plain folder; ``mf_config.registry``).
    Without a register_path nothing is imported (a warning names each auto_register left out)."""
    if register_path is not None and not Path(register_path).is_dir():
        raise GenerationError("not a folder", file=register_path, key="register_path")
    if task is not None:
        auto_register_sections(task, register_path)


def load_model(source, checkpoint=None, overrides=(), setup=None):
    """(model, config): the network that ``source`` describes (a task YAML or a model folder, ours or Hugging
    Face's, with dotted ``overrides``), with the weights of ``checkpoint`` (default: the folder itself, else the
    config's ``checkpoint_name_or_path``), checked against the config before mindspore loads; ``setup()`` runs
    between the check and the network's construction."""
    source = Path(source)
    if not source.exists():
        raise GenerationError("no such file or folder", file=source)
    found = identify(source, overrides=overrides)
    if checkpoint is not None:
        if not Path(checkpoint).exists():
            raise GenerationError("no such checkpoint file or folder", file=checkpoint, key="load_checkpoint")
        return from_source(found, Path(checkpoint), setup=setup), found.config
    named = None if found.weights else named_checkpoint(found.config)
    if found.weights is None and named is None:
        raise GenerationError("no weights: pass --load_checkpoint or set load_checkpoint (or "
                              "model.model_config.checkpoint_name_or_path) in the YAML", file=source,
                              key="load_checkpoint")
    return from_source(found, named, setup=setup), found.config


def load_pretrained(path, overrides=()):
    """(model, config) of a model folder, ours or Hugging Face's."""
    return load_model(path, None, overrides)
