"""pytest plugin shared by every mf package's tests (registered through the ``pytest11`` entry point).

``mf_assets``: the folder of real test data, ``$MF_ASSETS`` or ``shared/assets`` beside the
project root (found by walking up from pytest's rootdir and the current directory).
"""

import os
from pathlib import Path

import pytest

from mf_config.reliability import budget, pytest_addoption, pytest_terminal_summary  # noqa: F401 - plugin hooks


def find_assets(start=None):
    """The assets folder, or None when it cannot be found."""
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


@pytest.fixture(scope="session")
def mf_assets(request):
    """Path to the shared test assets (tokenizers/, text/, mindformers-yaml/)."""
    path = find_assets(request.config.rootpath)
    if path is None or not path.is_dir():
        pytest.fail("test assets not found: set MF_ASSETS or place shared/assets beside the project root")
    return path
