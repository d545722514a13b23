"""Named model sizes: ``preset("llama", "tiny")`` (what tests and examples build), ``preset("llama3-8b")``.

The sizes live beside each family's spec (``FamilySpec.presets``): ``tiny`` in every family (2 layers, hidden
32, 4 heads, vocab 97, seq 32, float32, so it runs on the CPU backend) and the published sizes under their
usual names. Keys not given keep the config class's defaults (MindFormers' dtypes, for example).
"""

import copy
from typing import Any

from mf_config.config import did_you_mean
from mf_config.errors import ConfigError
from mf_config.spec import FamilySpec, families, family


def preset(name: str, size: str | None = None, **overrides: Any) -> Any:
    """The config of a named size: ``preset(family, size)`` (``preset("llama", "tiny")``) or ``preset(size)``
    for a size only one family has (``preset("llama3-8b")``); ``overrides`` replace keys
    (``preset("llama", "tiny", num_layers=4)``)."""
    spec = family(name) if size is not None else _family_with(name)
    size = name if size is None else size
    if size not in spec.presets:
        raise ConfigError(f"family '{spec.name}' has no size '{size}'{did_you_mean(size, spec.presets)}; sizes: "
                          f"{', '.join(spec.presets)}", key="size")
    return spec.config_class(**{**copy.deepcopy(dict(spec.presets[size])), **overrides})


def presets() -> dict[str, list[str]]:
    """{family name: its size names} of every registered family."""
    return {spec.name: list(spec.presets) for spec in families()}


def _family_with(size: str) -> FamilySpec:
    owners = [spec for spec in families() if size in spec.presets]
    if len(owners) == 1:
        return owners[0]
    if owners:
        raise ConfigError(f"several families have a size '{size}': name one, as preset('{owners[0].name}', "
                          f"'{size}')", key="size")
    names = sorted({s for spec in families() for s in spec.presets})
    raise ConfigError(f"unknown preset '{size}'{did_you_mean(size, names)}; presets: {', '.join(names)}",
                      key="size")
