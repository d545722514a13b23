"""The model families mf-ckpt converts: each module gives ``rules(config)`` and ``ignorable(name, config)``."""

from mf_ckpt.families import bloom, gpt2, llama

FAMILIES = {"llama": llama, "mistral": llama, "mixtral": llama, "gpt2": gpt2, "bloom": bloom}
