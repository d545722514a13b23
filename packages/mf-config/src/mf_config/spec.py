"""Model families: one ``FamilySpec`` per family, and the registry that finds them (and their parts).

A spec is pure data (in the spirit of torchtitan's ``ModelSpec``): the family's name, its config class, its
Hugging Face ``model_type`` and architectures, the MindFormers ``type:`` names, the HF <-> ours config keys
and the weight rules (``mf_config.rules``), from which the parameter names and shapes follow. The specs of
mf's families live in ``mf_config.family_specs``; packages above mf-config add their own per-family *parts*
without mf-config importing them: ``register_part(family, kind, value)`` in code, or an entry point of group
``mf.parts`` named ``FAMILY.KIND`` (loaded on first use), as mf-models does for its network classes
(kind ``network``). mf-parallel's plans and mf-train's LoRA targets are parts too.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from mf_config.config import did_you_mean
from mf_config.errors import ConfigError
from mf_config.rules import Rule, hf_shapes, ours_shapes

PARTS_GROUP = "mf.parts"


@dataclass(frozen=True)
class FamilySpec:
    """Everything mf knows about one model family, as data.

    - ``name``: the family's name (``llama``); also what ``mf-ckpt convert --model`` takes.
    - ``config_class``: the config class a Hugging Face config.json of this family becomes.
    - ``hf_model_type`` / ``hf_architectures``: HF's ``model_type`` and ``architectures`` (the first is written).
    - ``mf_config_type`` / ``mf_arch_type``: MindFormers' ``model_config`` and ``model.arch`` ``type:`` names.
    - ``weight_rules(config)``: the ``Rename``/``Stack``/``Fused`` rules between our and HF's tensors.
    - ``accepts(config)``: whether this family's network and weight rules serve ``config``.
    - ``claims(config)``: whether ``config`` is this family when nothing names one (default: ``accepts``).
    - ``refines``: the family this one is a special case of (Qwen2 of Llama): of two families that claim a
      config, the refining one takes it.
    - ``hf_keys``: (HF key, our key) pairs of config.json; ``hf_read(hf, kwargs)`` adds what pairs cannot say
      and returns the HF keys it used; ``hf_write(config, hf)`` the reverse.
    - ``hf_ignorable(name, config)``: HF tensors that carry nothing to convert (buffers, a tied head).
    - ``hf_base_prefix``: the prefix files saved from HF's base model (no LM head) leave out.
    - ``presets``: {size name: config keys} (``tiny`` for tests, the published sizes).
    """

    name: str
    config_class: type
    hf_model_type: str
    hf_architectures: tuple
    mf_config_type: str
    mf_arch_type: str
    weight_rules: Callable[[Any], list]
    accepts: Callable[[Any], bool]
    claims: Callable[[Any], bool] | None = None
    refines: str | None = None
    hf_keys: tuple = ()
    hf_read: Callable[[dict, dict], set] | None = None
    hf_write: Callable[[Any, dict], None] | None = None
    hf_ignorable: Callable[[str, Any], bool] = field(default=lambda name, config: False)
    hf_base_prefix: str | None = None
    presets: Mapping[str, Mapping] = field(default_factory=dict)

    def param_shapes(self, config: Any) -> dict[str, tuple]:
        """{our parameter name: shape} for ``config`` (what the network built from it holds)."""
        return ours_shapes(self.weight_rules(config))

    def hf_param_shapes(self, config: Any) -> dict[str, tuple]:
        """{Hugging Face tensor name: shape} for ``config``."""
        return hf_shapes(self.weight_rules(config))

    def is_claimed(self, config: Any) -> bool:
        return (self.claims or self.accepts)(config)

    def part(self, kind: str, default: Any = ...) -> Any:
        """This family's part of ``kind`` (see ``part``)."""
        return part(self.name, kind, default)


_families: dict[str, FamilySpec] = {}
_parts: dict[tuple[str, str], Any] = {}


def register_family(spec: FamilySpec) -> FamilySpec:
    """Add a family; its name must be new."""
    if spec.name in _families and _families[spec.name] is not spec:
        raise ConfigError(f"a family named '{spec.name}' is already registered", key="name")
    _families[spec.name] = spec
    return spec


def families() -> list[FamilySpec]:
    """Every registered family, in registration order."""
    return list(_families.values())


def family(name: str) -> FamilySpec:
    """The family named ``name``; an unknown name lists the known ones."""
    spec = _families.get(name)
    if spec is None:
        raise ConfigError(f"unknown model family '{name}'{did_you_mean(name, _families)}; known: "
                          f"{', '.join(_families)}", key="model")
    return spec


def family_for_hf(model_type: str) -> FamilySpec:
    """The family of a Hugging Face ``model_type``."""
    for spec in _families.values():
        if spec.hf_model_type == model_type:
            return spec
    supported = ", ".join(s.hf_model_type for s in _families.values())
    raise ConfigError(f"unsupported model_type {model_type!r}; supported: {supported}", key="model_type")


def family_of(config: Any) -> FamilySpec:
    """The family of a model config: the one its ``hf_model_type`` names (a config read from a Hugging Face
    file keeps its model_type when another family would claim it, as Mistral's), else the one that claims it
    (a refining family before the one it refines)."""
    named = _families.get(getattr(config, "hf_model_type", None))
    if named is not None and named.accepts(config):
        return named
    claimed = [spec for spec in _families.values() if spec.is_claimed(config)]
    claimed = [spec for spec in claimed if not any(other.refines == spec.name for other in claimed)]
    if len(claimed) != 1:
        which = f"families {', '.join(s.name for s in claimed)} all" if claimed else "no family"
        raise ConfigError(f"{which} claim this {type(config).__name__}; set hf_model_type to one of "
                          f"{', '.join(_families)}", key="hf_model_type")
    return claimed[0]


def config_classes() -> dict[str, type]:
    """{class name: class} of the families' config classes (the model ``type:`` names a config file may use)."""
    return {spec.config_class.__name__: spec.config_class for spec in _families.values()}


def config_class_named(name: str) -> type:
    """The model config class named ``name``; an unknown name lists the known ones."""
    classes = config_classes()
    if name not in classes:
        raise ConfigError(f"unknown config type '{name}'{did_you_mean(name, classes)}; known: "
                          f"{', '.join(classes)}", key="type")
    return classes[name]


def register_part(family_name: str, kind: str, value: Any) -> None:
    """Give family ``family_name`` its part of ``kind`` (a network class, a parallel plan, LoRA targets ...)."""
    family(family_name)
    _parts[(family_name, kind)] = value


def part(family_name: str, kind: str, default: Any = ...) -> Any:
    """The part of ``kind`` of a family: registered in code, else announced by an entry point of group
    ``mf.parts`` named ``FAMILY.KIND`` (imported now). Without ``default`` a missing part is a ConfigError."""
    family(family_name)
    key = (family_name, kind)
    if key not in _parts:
        for ep in entry_points(group=PARTS_GROUP):
            if ep.name == f"{family_name}.{kind}":
                _parts[key] = ep.load()
                break
    if key in _parts:
        return _parts[key]
    if default is not ...:
        return default
    raise ConfigError(f"family '{family_name}' has no '{kind}' part (is the package that provides it installed?)",
                      key=kind)


def parts(family_name: str) -> dict[str, Any]:
    """Every part of a family (entry points included, which are imported)."""
    family(family_name)
    kinds = {kind for (name, kind) in _parts if name == family_name}
    kinds |= {ep.name.split(".", 1)[1] for ep in entry_points(group=PARTS_GROUP)
              if ep.name.startswith(family_name + ".")}
    return {kind: part(family_name, kind) for kind in sorted(kinds)}


def rules_of(config: Any) -> list[Rule]:
    """The weight rules of ``config``'s family for ``config``."""
    return family_of(config).weight_rules(config)


def param_shapes(config: Any) -> dict[str, tuple]:
    """{parameter name: shape} of the network for ``config``, from its family's weight rules (no mindspore)."""
    return family_of(config).param_shapes(config)
