"""Shared by the tests: the tiny config of each family (``mf_config.preset(family, "tiny")``: 2 layers, hidden 32,
float32, so they run on the CPU backend) and a fresh tiny network of a family."""

import functools

from mf_config import preset

FAMILIES = ["llama", "mixtral", "gpt2", "bloom", "qwen2"]
CONFIGS = {name: functools.partial(preset, name, "tiny") for name in FAMILIES}


def build(family, **kw):
    """A fresh tiny network of ``family`` (its class is the family's ``network`` part), ``kw`` over the preset."""
    from mf_models import AutoModel

    return AutoModel.from_config(CONFIGS[family](**kw))
