"""One tiny model per family (the presets of helpers.py)."""

import pytest

from .helpers import FAMILIES, build

pytest_plugins = ["mf_config.pytest_plugin"]  # mf_assets


@pytest.fixture(scope="session")
def family_models():
    """One tiny model per family, built once (PyNative; each test picks its mode)."""
    return {name: build(name) for name in FAMILIES}
