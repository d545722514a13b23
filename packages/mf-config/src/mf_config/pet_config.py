"""``model.model_config.pet_config``: parameter-efficient tuning (LoRA), with MindFormers' ``LoraConfig`` keys.

Pure data: mf-train applies it (``mf_train.lora.apply_lora``). Keys MindFormers' old GPT-2 LoRA YAMLs carry for
mindpet (``in_channels``, ``out_channels``) are kept as extra keys; the validator names them as unknown.
"""

import re

from mf_config.errors import ConfigError
from mf_config.fields import Field, positive
from mf_config.pretrained import PretrainedConfig, nested
from mf_config.registry import register

# MindSpore's initializer names (``mindspore.common.initializer``'s aliases) plus ``kaiming_uniform``: PEFT's and
# mindpet's default for A, He-uniform with negative slope sqrt(5)
INIT_NAMES = ("normal", "zeros", "zero", "ones", "one", "uniform", "he_uniform", "heuniform", "he_normal",
              "henormal", "xavier_uniform", "xavieruniform", "xavier_normal", "xaviernormal", "truncatednormal",
              "orthogonal", "kaiming_uniform")
DTYPE_NAMES = (None, "float32", "float16", "bfloat16")


def _dropout(value):
    return None if 0 <= value < 1 else "must be at least 0 and below 1"


def _regex(value):
    try:
        re.compile(value)
    except re.error as e:
        return f"not a regular expression ({e})"
    return None


def _regexes(values):
    for value in values:
        if not isinstance(value, str):
            return f"expected a list of strings, got {value!r} in it"
        problem = _regex(value)
        if problem:
            return f"{value!r}: {problem}"
    return None


def _strings(values):
    bad = [v for v in values if not isinstance(v, str)]
    return f"expected a list of strings, got {bad[0]!r} in it" if bad else None


@register("config")
class LoraConfig(PretrainedConfig):
    """MindFormers' ``LoraConfig`` (``pet_type: lora``). Dtypes left unset follow the adapted layer's."""

    pet_type = Field(str, "lora", choices=("lora",), doc="parameter-efficient tuning method (only lora)")
    lora_rank = Field(int, 8, check=positive, doc="rank r of A (r, in) and B (out, r)")
    lora_alpha = Field((int, float), 16, check=positive, doc="the update is B @ A * lora_alpha / lora_rank")
    lora_dropout = Field(float, 0.0, check=_dropout, doc="dropout on the input of the A branch (training only)")
    lora_a_init = Field(str, "normal", choices=INIT_NAMES, doc="initializer of A (MindSpore's names)")
    lora_b_init = Field(str, "zeros", choices=INIT_NAMES, doc="initializer of B (zeros: the model starts unchanged)")
    param_init_type = Field(str, None, choices=DTYPE_NAMES, doc="dtype of A and B (default: the layer's)")
    compute_dtype = Field(str, None, choices=DTYPE_NAMES, doc="dtype of the A/B products (default: the layer's)")
    target_modules = Field(str, None, check=_regex,
                           doc="regex naming the Linear layers to adapt (default: the family's attention)")
    exclude_layers = Field(list, None, check=_regexes, doc="regexes of layers never adapted")
    freeze_include = Field(list, None, check=_strings, doc="fnmatch patterns of parameters to freeze (default *)")
    freeze_exclude = Field(list, None, check=_strings,
                           doc="fnmatch patterns of parameters left trainable besides the adapters")

    @classmethod
    def from_dict(cls, data, **overrides):
        """As ``PretrainedConfig.from_dict``; an error's key is given under ``pet_config``."""
        try:
            return super().from_dict(data, **overrides)
        except ConfigError as e:
            key = e.key if (e.key or "").startswith("pet_config") else f"pet_config.{e.key}"
            raise type(e)(e.message, file=e.file, key=key, line=e.line) from None

    @property
    def scaling(self):
        """lora_alpha / lora_rank: the factor of B @ A."""
        return self.lora_alpha / self.lora_rank


nested("pet_config", LoraConfig)
