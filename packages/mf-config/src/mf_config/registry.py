"""The registry: ``type:`` names in a YAML section to classes, as MindFormers' ``MindFormerRegister``.

Classes register with ``@register(kind)``. Classes of other packages are announced through
Python entry points of group ``mf.registry`` named ``KIND.NAME`` (for example
``model.LlamaForCausalLM = mf_models.llama:LlamaForCausalLM``) and imported only when asked for.
User code comes in through ``auto_register: module.Class`` plus an explicit ``register_path``.
"""

import importlib
import importlib.util
import sys
from importlib.metadata import entry_points
from pathlib import Path

from mf_config.config import did_you_mean
from mf_config.errors import ConfigError

KINDS = ("config", "model", "tokenizer", "processor", "dataset", "data_loader", "optimizer", "lr",
         "wrapper", "callback", "metric", "trainer", "pipeline", "loss", "transforms")
ENTRY_POINT_GROUP = "mf.registry"

_registry = {kind: {} for kind in KINDS}


def _check_kind(kind):
    if kind not in _registry:
        raise ConfigError(f"unknown registry kind '{kind}'; known: {', '.join(KINDS)}")


def register(kind, name=None):
    """Class decorator: ``@register("model")`` makes the class buildable as ``type: ClassName``."""
    _check_kind(kind)

    def decorate(cls):
        _registry[kind][name or cls.__name__] = cls
        return cls

    return decorate


def _entry_points(kind):
    return {ep.name.split(".", 1)[1]: ep for ep in entry_points(group=ENTRY_POINT_GROUP)
            if ep.name.startswith(kind + ".")}


def known(kind):
    """Sorted names of every class of ``kind``: registered ones and those announced by entry points."""
    _check_kind(kind)
    return sorted(set(_registry[kind]) | set(_entry_points(kind)))


def get(kind, name):
    """The class registered as ``name`` of ``kind``; an unknown name lists the known ones."""
    _check_kind(kind)
    cls = _registry[kind].get(name)
    if cls is not None:
        return cls
    ep = _entry_points(kind).get(name)
    if ep is not None:
        cls = ep.load()
        _registry[kind].setdefault(name, cls)
        return cls
    names = known(kind)
    raise ConfigError(f"unknown {kind} type '{name}'{did_you_mean(name, names)}; known {kind} types: "
                      f"{', '.join(names) or '(none installed)'}", key="type")


def import_user_module(module, register_path):
    """Import ``module`` (dotted) from the folder ``register_path`` named by the user."""
    folder = Path(register_path).resolve()
    if not folder.is_dir():
        raise ConfigError(f"register_path is not a folder: {register_path}", key="register_path")
    parts = module.split(".")
    candidates = [folder.joinpath(*parts).with_suffix(".py"), folder.joinpath(*parts, "__init__.py")]
    if not any(c.is_file() for c in candidates):
        raise ConfigError(f"module '{module}' not found in register_path {folder}", key="auto_register")
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    try:
        return importlib.import_module(module)
    finally:
        if sys.path and sys.path[0] == str(folder):
            sys.path.pop(0)


def build(section, kind, register_path=None, **defaults):
    """Instantiate the class that ``section["type"]`` names; the section's other keys are its kwargs.

    ``defaults`` are passed unless the section sets them. ``auto_register: module.Class`` imports
    ``module`` from ``register_path`` first (and only from there).
    """
    if section is None:
        return None
    if not isinstance(section, dict) or "type" not in section:
        raise ConfigError(f"a {kind} section needs a 'type' key", key="type")
    kwargs = dict(section)
    name = kwargs.pop("type")
    auto = kwargs.pop("auto_register", None)
    if auto:
        if register_path is None:
            raise ConfigError(f"auto_register '{auto}' needs register_path (the folder holding it)",
                              key="auto_register")
        module, _, attr = auto.rpartition(".")
        if not module:
            raise ConfigError(f"expected module.Class, got '{auto}'", key="auto_register")
        mod = import_user_module(module, register_path)
        cls = getattr(mod, attr, None)
        if cls is None:
            raise ConfigError(f"module '{module}' has no '{attr}'", key="auto_register")
        _registry[kind].setdefault(attr, cls)
    cls = get(kind, name)
    return cls(**{**defaults, **kwargs})
