"""``AutoModel``: the network a config, a MindFormers task YAML or a saved folder names, through the registry."""

from pathlib import Path

from mf_config.registry import get
from mf_models.config_files import config_from_file
from mf_models.specs import ARCHITECTURES


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
