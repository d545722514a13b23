"""The registry: ``type:`` names in a YAML section to classes, as MindFormers' ``MindFormerRegister``.

Classes register with ``@register(kind)``. Classes of other packages are announced through
Python entry points of group ``mf.registry`` named ``KIND.NAME`` (for example
``model.LlamaForCausalLM = mf_models.llama:LlamaForCausalLM``) and imported only when asked for.
User code comes in through ``auto_register: module.Class`` plus an explicit ``register_path``, as MindFormers'
``--register_path DIR``: ``auto_register_sections(cfg, DIR)`` imports, for each section of a task config that
builds a class (``SECTION_KINDS``), the one module its ``auto_register`` names, from ``DIR`` alone (a plain folder;
no ``__init__.py`` needed), and registers the class for that section's kind ahead of mf's own classes of that
name. Nothing is imported without a register_path: a section whose ``type`` mf knows then builds mf's class (with a
warning saying so), any other is an error asking for ``--register_path``.
"""

import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from mf_config.config import did_you_mean
from mf_config.errors import ConfigError

KINDS = ("config", "model", "tokenizer", "processor", "dataset", "data_loader", "optimizer", "lr",
         "wrapper", "callback", "metric", "trainer", "pipeline", "loss", "transforms")
ENTRY_POINT_GROUP = "mf.registry"

_registry = {kind: {} for kind in KINDS}
_user = {kind: {} for kind in KINDS}  # classes auto_register brought in: they win over mf's of the same name
logger = logging.getLogger("mf_config")
# the sections of a MindFormers task config that build a class, and the registry kind each builds (MindFormers'
# MindFormerModuleType); a list section (callbacks) builds one per item
SECTION_KINDS = {"model.arch": "model", "model.model_config": "config", "processor": "processor",
                 "processor.tokenizer": "tokenizer", "train_dataset": "dataset", "eval_dataset": "dataset",
                 "train_dataset.data_loader": "data_loader", "eval_dataset.data_loader": "data_loader",
                 "optimizer": "optimizer", "lr_schedule": "lr", "runner_wrapper": "wrapper", "callbacks": "callback",
                 "eval_callbacks": "callback", "metric": "metric", "trainer": "trainer"}


def _check_kind(kind):
    if kind not in _registry:
        raise ConfigError(f"unknown registry kind '{kind}'; known: {', '.join(KINDS)}")


def register(kind: str, name: str | None = None) -> Callable[[type], type]:
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
    return sorted(set(_registry[kind]) | set(_user[kind]) | set(_entry_points(kind)))


def get(kind, name):
    """The class registered as ``name`` of ``kind``; an unknown name lists the known ones."""
    _check_kind(kind)
    cls = _user[kind].get(name) or _registry[kind].get(name)
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
        mod = importlib.import_module(module)
    finally:
        if sys.path and sys.path[0] == str(folder):
            sys.path.pop(0)
    origin = Path(getattr(mod, "__file__", "") or "").resolve()
    if folder not in origin.parents:  # a module of that name was imported from elsewhere before
        raise ConfigError(f"module '{module}' is already imported from {origin}, not from register_path {folder}",
                          key="auto_register")
    return mod


def import_class(reference, register_path, kind):
    """The class ``module.Class`` (an ``auto_register`` value) from the folder ``register_path``, registered for
    ``kind`` under its name ahead of mf's classes."""
    module, _, attr = str(reference).rpartition(".")
    if not module or not attr:
        raise ConfigError(f"expected module.Class, got '{reference}'", key="auto_register")
    try:
        mod = import_user_module(module, register_path)
    except ConfigError:
        raise
    except Exception as e:  # the user's own code failed to import: say so in one line
        raise ConfigError(f"importing '{module}' from register_path {register_path} failed: "
                          f"{type(e).__name__}: {e}", key="auto_register") from None
    cls = getattr(mod, attr, None)
    if cls is None:
        raise ConfigError(f"module '{module}' has no '{attr}'", key="auto_register")
    _user[kind][attr] = cls
    return cls


def sections(cfg):
    """(dotted key, section, kind) of every section of ``cfg`` that builds a class (``SECTION_KINDS``)."""
    for key, kind in SECTION_KINDS.items():
        node = cfg
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        items = list(enumerate(node)) if isinstance(node, list) else [(None, node)]
        for i, section in items:
            if isinstance(section, dict):
                yield (key if i is None else f"{key}.{i}"), section, kind


def auto_register_sections(cfg, register_path=None) -> list:
    """Import the class each ``auto_register`` of ``cfg``'s sections names from ``register_path`` (and only from
    there; nothing when it is None, as MindFormers without ``--register_path``) and register it for the
    section's kind. Returns the classes imported."""
    imported = []
    for key, section, kind in sections(cfg):
        reference = section.get("auto_register")
        if not reference:
            continue
        if register_path is None:
            logger.warning("%s.auto_register: %s not imported (no --register_path); building mf's %s", key,
                           reference, section.get("type"))
            continue
        try:
            imported.append(import_class(reference, register_path, kind))
        except ConfigError as e:
            raise ConfigError(e.message, key=f"{key}.auto_register") from None
    return imported


def build(section: Mapping[str, Any] | None, kind: str, register_path: str | os.PathLike | None = None,
          **defaults: Any) -> Any:
    """Instantiate the class that ``section["type"]`` names; the section's other keys are its kwargs.

    ``defaults`` are passed unless the section sets them. ``auto_register: module.Class`` imports
    ``module`` from ``register_path`` first (and only from there); without a register_path the section builds
    mf's class of its ``type``, or fails asking for one.
    """
    if section is None:
        return None
    if not isinstance(section, dict) or "type" not in section:
        raise ConfigError(f"a {kind} section needs a 'type' key", key="type")
    kwargs = dict(section)
    name = kwargs.pop("type")
    auto = kwargs.pop("auto_register", None)
    if auto and register_path is not None:
        import_class(auto, register_path, kind)
    elif auto and name not in known(kind):
        raise ConfigError(f"auto_register '{auto}' needs register_path (the folder holding it)", key="auto_register")
    cls = get(kind, name)
    return cls(**{**defaults, **kwargs})
