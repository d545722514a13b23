"""Test data shared by the mf packages' tests and benchmarks: ``find_assets``, the folder of real test data.

The pytest fixture ``mf_assets`` is in :mod:`mf_config.pytest_plugin`, which a test suite loads by asking for it
(its conftest.py says ``pytest_plugins = ["mf_config.pytest_plugin"]``); installing mf-config adds no plugin to
a user's pytest, and this module does not import pytest.
"""

import os
from pathlib import Path


def find_assets(start=None):
    """The assets folder: ``$MF_ASSETS``, or ``shared/assets`` beside the project root (found by walking up from
    ``start``, the current directory by default, and from this file); None when it cannot be found."""
    env = os.environ.get("MF_ASSETS")
    if env:
        return Path(env)
    starts = [Path(start or os.getcwd()).resolve(), Path(__file__).resolve()]
    for s in starts:
        for parent in [s, *s.parents]:
            candidate = parent / "shared" / "assets"
            if (candidate / "tokenizers").is_dir():
                return candidate
    return None
