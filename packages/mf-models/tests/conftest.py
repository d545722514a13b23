"""One tiny model per family (the configs and classes of helpers.py)."""

import pytest

from .helpers import CLASSES, CONFIGS

pytest_plugins = ["mf_config.pytest_plugin"]  # mf_assets


@pytest.fixture(scope="session")
def family_models():
    """One tiny model per family, built once (PyNative; each test picks its mode)."""
    return {name: CLASSES[name](CONFIGS[name]()) for name in CLASSES}
