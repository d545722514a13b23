"""Weights against a config, before anything is built: what differs, and the config keys that would make them fit.

``compare(expected, found)`` lists every difference between the tensors a config implies (``{name: shape}``, ours
or Hugging Face's) and a checkpoint's header (``{name: shape}``); ``describe`` says them in one line, names of the
same pattern grouped (``model.layers.[2-31].attention.wq.weight``). ``fitting_overrides`` searches the size keys
of the config (layers, widths, vocabulary, heads of keys/values, experts, tied head, biases) for values under
which the config implies exactly the checkpoint's tensors: the ``--set`` a user needs. ``num_heads`` comes last and
only when nothing else fits: the weights do not show how a width splits into heads.
"""

import copy
import math
import re
from dataclasses import dataclass, field

from mf_config.errors import ConfigError
from mf_config.spec import family_of

# size keys searched, in order of preference (an earlier key wins a tie)
SIZE_KEYS = ("num_layers", "vocab_size", "hidden_size", "intermediate_size", "expand_ratio", "n_kv_heads",
             "moe_config.expert_num", "seq_length", "tie_word_embeddings", "qkv_has_bias", "num_heads")
_INDEX = re.compile(r"(?<=\.)\d+(?=\.)")
_FIRST_INDEX = re.compile(r"\.(\d+)\.")  # a name's first index: its layer
MAX_HEADS = 256


@dataclass
class Differences:
    """``missing`` names the config implies and the checkpoint lacks; ``unexpected`` the reverse; ``shapes``
    {name: (expected, found)}."""

    missing: list = field(default_factory=list)
    unexpected: list = field(default_factory=list)
    shapes: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.missing) + len(self.unexpected) + len(self.shapes)


def compare(expected: dict, found: dict, ignorable=lambda name: False) -> Differences:
    """The differences between ``expected`` and ``found`` ({name: shape}); ``ignorable(name)`` found tensors
    (buffers, a tied head saved anyway) are not unexpected."""
    out = Differences()
    for name, shape in expected.items():
        if name not in found:
            out.missing.append(name)
        elif tuple(found[name]) != tuple(shape):
            out.shapes[name] = (tuple(shape), tuple(found[name]))
    out.unexpected = [n for n in found if n not in expected and not ignorable(n)]
    return out


def describe(diff: Differences) -> str:
    """The differences in one line: ``missing: ...; unexpected: ...; shape: NAME expected [..], found [..]``."""
    parts = []
    if diff.missing:
        parts.append(f"{len(diff.missing)} missing: {', '.join(grouped(diff.missing))}")
    if diff.unexpected:
        parts.append(f"{len(diff.unexpected)} unexpected: {', '.join(grouped(diff.unexpected))}")
    by_shapes = {}
    for name, shapes in diff.shapes.items():
        by_shapes.setdefault(shapes, []).append(name)
    for (expected, found), names in by_shapes.items():
        parts.append(f"{', '.join(grouped(names))}: expected {list(expected)}, found {list(found)}")
    return "; ".join(parts)


def grouped(names: list) -> list:
    """Names with their layer (expert) indices gathered: ``a.[0-3].b`` for a.0.b ... a.3.b."""
    groups = {}
    for name in names:
        indices = tuple(int(i) for i in _INDEX.findall(name))
        groups.setdefault(_INDEX.sub("#", name), []).append(indices)
    out = []
    for pattern, indices in groups.items():
        axes = [sorted({index[k] for index in indices}) for k in range(len(indices[0]))]
        if math.prod(map(len, axes)) != len(set(indices)):  # not every combination: name them one by one
            out += [name for name in names if _INDEX.sub("#", name) == pattern]
            continue
        for values in axes:
            pattern = pattern.replace("#", _ranges(values), 1)
        out.append(pattern)
    return out


def _ranges(values):
    if len(values) == 1:
        return str(values[0])
    spans, start = [], values[0]
    for a, b in zip(values, values[1:] + [None]):
        if b != a + 1:
            spans.append(str(start) if start == a else f"{start}-{a}")
            start = b
    return "[" + ",".join(spans) + "]"


def expected_shapes(config, hf: bool) -> dict:
    """{name: shape} the config implies: Hugging Face's names when ``hf``, else ours."""
    spec = family_of(config)
    return spec.hf_param_shapes(config) if hf else spec.param_shapes(config)


def fitting_overrides(config, found: dict, hf: bool, ignorable=lambda name, config: False) -> dict | None:
    """{size key: value} under which ``config`` implies exactly the tensors ``found`` ({name: shape}); None when
    none was found. The layer count comes from the names; the other keys are searched on one layer (layers are
    alike), one key at a time, the change that leaves fewest differences first."""
    changes, current = {}, config
    layers = sorted({int(m.group(1)) for n in found if (m := _FIRST_INDEX.search(n))})
    if layers and getattr(config, "num_layers", None) not in (None, layers[-1] + 1):
        changes["num_layers"] = layers[-1] + 1
    one = {n: s for n, s in found.items() if (m := _FIRST_INDEX.search(n)) is None or m.group(1) == "0"}
    trial = _with(config, "num_layers", 1) or config
    candidates = _candidates(found)
    score = _score(trial, one, hf, ignorable)
    while score:
        best = None
        for key in SIZE_KEYS[1:]:
            for value in candidates.get(key, candidates["int"]):
                option = _with(trial, key, value)
                option_score = float("inf") if option is None else _score(option, one, hf, ignorable)
                if option_score < (best[0] if best else score):
                    best = (option_score, key, value, option)
        if best is None:
            return None
        score, key, value, trial = best
        changes[key] = value
    for key, value in changes.items():
        current = _with(current, key, value) or current
    if _score(current, found, hf, ignorable):
        return None
    return {key: _value(current, key) for key in changes}


def _candidates(found):
    """Values to try per key: the checkpoint's dimensions; for head counts their divisors (a width is heads x
    head_dim); the layer count from the names."""
    dims = sorted({d for shape in found.values() for d in shape})
    heads = sorted({k for d in dims for k in range(1, min(d, MAX_HEADS) + 1) if d % k == 0})
    layers = sorted({int(i) + 1 for name in found for i in _INDEX.findall(name)})
    return {"int": dims, "num_layers": layers or [1], "moe_config.expert_num": dims, "n_kv_heads": heads,
            "num_heads": heads, "tie_word_embeddings": [True, False], "qkv_has_bias": [True, False]}


def _with(config, key, value):
    """A copy of ``config`` with ``key`` (dotted for nested) set, or None when it has no such key. The value is
    set without the config's checks: a smaller vocabulary may leave the special ids out, which the user's next
    run reports by name."""
    parts = key.split(".")
    if not hasattr(config, parts[0]) or _value(config, key) == value:
        return None
    trial = copy.deepcopy(config)
    target = trial
    for part in parts[:-1]:
        target = getattr(target, part)
    object.__setattr__(target, parts[-1], value)
    return trial


def _value(config, key):
    for part in key.split("."):
        config = getattr(config, part)
    return config


def _score(config, found, hf, ignorable):
    try:
        expected = expected_shapes(config, hf)
    except (ConfigError, ArithmeticError, ValueError, TypeError):
        return float("inf")
    return len(compare(expected, found, lambda name: ignorable(name, config)))
