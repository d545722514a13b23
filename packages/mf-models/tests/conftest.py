"""One tiny model per family (the presets of helpers.py)."""

import pytest

from .helpers import FAMILIES, build

pytest_plugins = ["mf_config.pytest_plugin"]  # mf_assets


@pytest.fixture(scope="session")
def family_models():
    """One tiny model per family, built once (PyNative; each test picks its mode)."""
    return {name: build(name) for name in FAMILIES}


@pytest.fixture(scope="session", autouse=True)
def compile_cache(tmp_path_factory):
    """mf's compile cache in a folder of this session, not the user's cache folder."""
    import os

    os.environ["MF_COMPILE_CACHE"] = str(tmp_path_factory.mktemp("compile_cache"))
