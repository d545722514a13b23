"""The tiny config of each family (``mf_config.preset(family, "tiny")``: 2 layers, hidden 32, float32, so they run
on the CPU backend) and one tiny model per family."""

import functools

import pytest

from mf_config import preset

FAMILIES = ["llama", "mixtral", "gpt2", "bloom", "qwen2"]
CONFIGS = {name: functools.partial(preset, name, "tiny") for name in FAMILIES}


def build(family, **kw):
    """A fresh tiny network of ``family`` (its class is the family's ``network`` part), ``kw`` over the preset."""
    from mf_models import AutoModel

    return AutoModel.from_config(CONFIGS[family](**kw))


@pytest.fixture(scope="session")
def family_models():
    """One tiny model per family, built once (PyNative; each test picks its mode)."""
    return {name: build(name) for name in FAMILIES}


@pytest.fixture(scope="session", autouse=True)
def compile_cache(tmp_path_factory):
    """mf's compile cache in a folder of this session, not the user's cache folder."""
    import os

    os.environ["MF_COMPILE_CACHE"] = str(tmp_path_factory.mktemp("compile_cache"))
