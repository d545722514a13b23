"""Typed config fields: a field is a name, a type, a default and an optional check.

Config classes (model, parallel, MoE) declare their fields here once; the same
declarations type-check values, give defaults and tell the schema validator which keys exist.
"""

import copy
import math

from mf_config.errors import ConfigError

DTYPES = ("float32", "float16", "bfloat16")


class FieldError(ConfigError):
    """A value has the wrong type, is not one of the choices, or is out of range."""


class Field:
    """``Field(int, 1, check=positive)``: ``types`` is a type or a tuple of types; None allowed
    when ``optional``. ``choices`` restricts the value; ``check(value)`` returns an error text or None.
    ``doc`` is the key's meaning in one line, which ``mf-config show --doc`` prints beside it (every field of a
    config class has one: tests/test_field_docs.py)."""

    def __init__(self, types, default=None, *, optional=False, choices=None, check=None, doc=""):
        self.types = types if isinstance(types, tuple) else (types,)
        self.default = default
        self.optional = optional or default is None
        self.choices = choices
        self.check = check
        self.doc = doc

    def type_name(self):
        names = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in self.types)
        return f"{names} or null" if self.optional else names

    def coerce(self, key, value):
        """The value converted to this field's type (int -> float), or a ConfigError naming ``key``."""
        if value is None:
            if self.optional:
                return None
            raise FieldError(f"expected {self.type_name()}, got null", key=key)
        converted = _coerce_type(value, self.types)
        if converted is _MISMATCH:
            raise FieldError(f"expected {self.type_name()}, got {type_label(value)} {value!r}", key=key)
        value = converted
        if self.choices is not None and value not in self.choices:
            raise FieldError(f"expected one of {', '.join(map(repr, self.choices))}, got {value!r}", key=key)
        if self.check is not None:
            problem = self.check(value)
            if problem:
                raise FieldError(f"{problem}, got {value!r}", key=key)
        return value

    def default_value(self):
        return copy.deepcopy(self.default)


_TYPE_NAMES = {int: "an integer", float: "a number", bool: "true/false", str: "a string",
               list: "a list", dict: "a mapping"}
_MISMATCH = object()


def type_label(value):
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list",
            dict: "mapping"}.get(type(value), type(value).__name__)


def _coerce_type(value, types):
    if isinstance(value, bool):
        return value if bool in types else _MISMATCH
    if isinstance(value, int):
        if int in types:
            return value
        if float in types:
            return float(value)
        return _MISMATCH
    if isinstance(value, float):
        if float in types:
            return value
        if int in types and value.is_integer():
            return int(value)
        return _MISMATCH
    if isinstance(value, str):
        if str in types:
            return value
        if float in types:  # YAML 1.1 reads "1e-5" (no dot) as a string
            try:
                number = float(value)
            except ValueError:
                return _MISMATCH
            return number if math.isfinite(number) else _MISMATCH
        return _MISMATCH
    for t in types:
        if t not in (int, float, bool, str) and isinstance(value, t):
            return value
    return _MISMATCH


def positive(value):
    return None if value > 0 else "must be greater than 0"


def non_negative(value):
    return None if value >= 0 else "must be 0 or more"


def probability(value):
    return None if 0 <= value <= 1 else "must be between 0 and 1"


def dtype(default, **kwargs):
    return Field(str, default, choices=DTYPES, **kwargs)
