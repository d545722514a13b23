"""``GenerationConfig``: what to generate and how, with MindFormers' defaults and names.

Defaults come from a loaded folder's ``generation_config.json`` when it has one (``from_model``), else from the
model config as MindFormers' ``GenerationConfig.from_model_config`` takes them:
``max_decode_length`` becomes ``max_length``; ``top_k``, ``top_p``, ``do_sample``, ``repetition_penalty`` and
the special ids are copied. ``use_past`` is the exception: every mf-models network has its KV cache, which
gives the same tokens as recomputing, so it is on unless a call turns it off (MindFormers reads it from the
model config because its networks are built with or without the cache).
"""

from __future__ import annotations

import copy
import numbers
from typing import TYPE_CHECKING, Any

from mf_generate.errors import GenerationError

if TYPE_CHECKING:
    from mf_config import PretrainedConfig
    from mf_models import CausalLM

DEFAULTS = {
    "max_length": 20,
    "max_new_tokens": None,
    "min_length": 0,
    "min_new_tokens": None,
    "do_sample": False,
    "use_past": True,
    "temperature": 1.0,
    "top_k": 50,
    "top_p": 1.0,
    "repetition_penalty": 1.0,
    "pad_token_id": None,
    "bos_token_id": None,
    "eos_token_id": (),
    "stop_strings": (),
    "seed": None,
}
FROM_MODEL_CONFIG = ("top_k", "top_p", "do_sample", "repetition_penalty", "pad_token_id", "bos_token_id",
                     "eos_token_id")
# the keys of Hugging Face's generation_config.json that mf-generate honours (others, like num_beams, are not used)
FROM_GENERATION_FILE = ("max_length", "max_new_tokens", "min_length", "min_new_tokens", "do_sample", "temperature",
                        "top_k", "top_p", "repetition_penalty", "pad_token_id", "bos_token_id", "eos_token_id",
                        "stop_strings")
_INTS = ("max_length", "max_new_tokens", "min_length", "min_new_tokens", "top_k", "pad_token_id", "bos_token_id",
         "seed")


class GenerationConfig:
    """Generation settings; ``GenerationConfig(max_new_tokens=32, do_sample=True, top_p=0.9, seed=0)``.

    ``max_decode_length`` (MindFormers' model-config name) is accepted for ``max_length``. ``max_new_tokens``,
    when set, wins over ``max_length``; both count per row. ``eos_token_id`` is an int or a list (any of them
    ends a row); ``stop_strings`` a string or a list (generation needs the tokenizer to match them). Unknown
    keys and values out of range raise :class:`GenerationError` naming the key.
    """

    def __init__(self, **kwargs: Any) -> None:
        if "max_decode_length" in kwargs:
            kwargs.setdefault("max_length", kwargs.pop("max_decode_length"))
        unknown = sorted(set(kwargs) - set(DEFAULTS))
        if unknown:
            raise GenerationError(f"unknown generation option; known: {', '.join(DEFAULTS)}", key=unknown[0])
        for key, default in DEFAULTS.items():
            setattr(self, key, kwargs.get(key, default))
        self.eos_token_id = _int_list(self.eos_token_id, "eos_token_id")
        stops = self.stop_strings
        self.stop_strings = [stops] if isinstance(stops, str) else list(stops or ())
        self.source = "the arguments"
        self.validate()

    @classmethod
    def from_model_config(cls, model_config: PretrainedConfig, **overrides: Any) -> GenerationConfig:
        """Defaults from a model config (``max_decode_length``, ``top_k``, ``top_p``, ``do_sample``,
        ``repetition_penalty``, special ids), then ``overrides`` (``None`` values ignored)."""
        values = {"max_length": getattr(model_config, "max_decode_length", DEFAULTS["max_length"])}
        for key in FROM_MODEL_CONFIG:
            value = getattr(model_config, key, None)
            if value is not None:
                values[key] = value
        return cls(**{**values, **{k: v for k, v in overrides.items() if v is not None}})

    @classmethod
    def from_model(cls, model: CausalLM, **overrides: Any) -> GenerationConfig:
        """The defaults of a loaded network: its folder's ``generation_config.json`` (``model.generation_config``,
        Hugging Face's file: keys it lacks take the defaults above, as transformers and MindFormers read it; the
        special ids the model config's), else ``from_model_config``; then ``overrides`` (``None`` ignored).
        ``source`` says which."""
        file = getattr(model, "generation_config", None)
        if not file:
            config = cls.from_model_config(model.config, **overrides)
            config.source = "the model config"
            return config
        values = {k: getattr(model.config, k) for k in ("pad_token_id", "bos_token_id", "eos_token_id")
                  if getattr(model.config, k, None) is not None}
        values.update({k: v for k, v in file.items() if k in FROM_GENERATION_FILE and v is not None})
        config = cls(**{**values, **{k: v for k, v in overrides.items() if v is not None}})
        config.source = "generation_config.json"
        return config

    def describe(self) -> str:
        """The decoding settings in one line (what ``mf-generate run`` prints)."""
        how = (f"sampling (top_k {self.top_k}, top_p {self.top_p}, temperature {self.temperature}, seed "
               f"{self.seed})" if self.do_sample else "greedy")
        limit = (f"max_new_tokens {self.max_new_tokens}" if self.max_new_tokens is not None
                 else f"max_length {self.max_length}")
        return (f"decoding: {how}, {limit}, repetition_penalty {self.repetition_penalty}, eos_token_id "
                f"{self.eos_token_id}, use_past {self.use_past} (defaults from {self.source})")

    def update(self, **kwargs: Any) -> GenerationConfig:
        """A copy with ``kwargs`` replacing settings (``None`` values are ignored, as click passes unset flags)."""
        values = {**self.to_dict(), **{k: v for k, v in kwargs.items() if v is not None}}
        config = GenerationConfig(**values)
        config.source = self.source
        return config

    def to_dict(self) -> dict[str, Any]:
        return {key: copy.deepcopy(getattr(self, key)) for key in DEFAULTS}

    def __repr__(self):
        return f"GenerationConfig({self.to_dict()})"

    def __eq__(self, other):
        return isinstance(other, GenerationConfig) and self.to_dict() == other.to_dict()

    def validate(self) -> None:
        """Raise GenerationError for a value out of range (checked before any compute)."""
        for key in _INTS:
            value = getattr(self, key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
                raise GenerationError(f"expected an integer, got {value!r}", key=key)
        for key in ("do_sample", "use_past"):
            if not isinstance(getattr(self, key), bool):
                raise GenerationError(f"expected true or false, got {getattr(self, key)!r}", key=key)
        for key in ("temperature", "top_p", "repetition_penalty"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise GenerationError(f"expected a number, got {value!r}", key=key)
        _at_least(self, "max_length", 1)
        for key in ("max_new_tokens", "min_length", "min_new_tokens", "top_k"):
            _at_least(self, key, 0)
        if not 0 < self.top_p <= 1:
            raise GenerationError(f"must be in (0, 1], got {self.top_p}", key="top_p")
        if self.temperature <= 0:
            raise GenerationError(f"must be > 0, got {self.temperature} (use do_sample=False for greedy)",
                                  key="temperature")
        if self.repetition_penalty <= 0:
            raise GenerationError(f"must be > 0, got {self.repetition_penalty}", key="repetition_penalty")
        for s in self.stop_strings:
            if not isinstance(s, str) or not s:
                raise GenerationError(f"stop strings must be non-empty strings, got {s!r}", key="stop_strings")

    def max_new_for(self, prompt_length: int) -> int:
        """How many tokens a row with a prompt of ``prompt_length`` tokens may add (before the model's limit)."""
        if self.max_new_tokens is not None:
            return self.max_new_tokens
        return max(self.max_length - prompt_length, 0)

    def min_new_for(self, prompt_length: int) -> int:
        """How many tokens a row must add before an eos token may end it."""
        if self.min_new_tokens is not None:
            return self.min_new_tokens
        return max(self.min_length - prompt_length, 0)


def _at_least(config, key, low):
    value = getattr(config, key)
    if value is not None and value < low:
        raise GenerationError(f"must be >= {low}, got {value}", key=key)


def _int_list(value, key):
    if value is None:
        return []
    values = [value] if isinstance(value, numbers.Integral) and not isinstance(value, bool) else value
    try:
        values = list(values)
    except TypeError:
        raise GenerationError(f"expected an integer or a list of integers, got {value!r}", key=key) from None
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
            raise GenerationError(f"expected non-negative integer ids, got {value!r}", key=key)
    return [int(v) for v in values]
