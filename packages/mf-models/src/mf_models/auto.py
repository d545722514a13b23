"""``AutoModel``: the network a config, a task YAML, our folder or a Hugging Face folder names.

The network class comes from a task YAML's ``model.arch.type`` (the ``type:`` registry), else from the config's
family: its ``network`` part, which mf-models announces per family (entry points of group ``mf.parts``).
"""

from pathlib import Path

from mf_config.registry import get
from mf_config.sources import ModelSource, identify
from mf_config.spec import family_of
from mf_models.errors import ModelError


def network_class(config, arch: str | None = None) -> type:
    """The network class for ``config``: the registry's ``arch`` (a MindFormers ``model.arch.type``) when
    given, else the ``network`` part of the config's family."""
    return get("model", arch) if arch else family_of(config).part("network")


class AutoModel:
    """Build or load the network of a config: ``from_config(config | file)``, ``from_pretrained(folder | file)``."""

    @staticmethod
    def from_config(config, overrides=()):
        """A freshly initialised network for a config object or a file ``mf_config.identify`` reads (a task
        YAML (its ``model.arch.type``), a ``config.json`` or a model folder); ``overrides`` are ``key=value``
        strings (dotted for a YAML)."""
        if isinstance(config, (str, Path)):
            source = identify(config, overrides=overrides)
            return network_class(source.config, source.arch)(source.config)
        return network_class(config)(config)

    @staticmethod
    def from_pretrained(path, config=None, overrides=()):
        """The network with its weights: our folder (``save_pretrained``), a Hugging Face folder (loaded through
        the family's weight rules, no conversion on disk), or a weights file with its ``config`` (a task YAML
        or a config.json; default: the config.json beside the file)."""
        source = identify(path, config=config, overrides=overrides)
        model = network_class(source.config, source.arch)(source.config)
        model.load_weights(weights_of(source), hf=True if source.hf_names else None)
        return model


def weights_of(source: ModelSource) -> Path:
    """The weights of a source, or a ModelError saying that it has none."""
    if source.weights is None:
        raise ModelError("holds no weights (pass a folder or file with weights, or load_checkpoint)",
                         file=source.path, key="load_checkpoint")
    return source.weights
