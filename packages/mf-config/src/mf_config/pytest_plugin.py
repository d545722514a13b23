"""pytest plugin of the mf packages' tests, loaded only by a suite that asks for it: its conftest.py says
``pytest_plugins = ["mf_config.pytest_plugin"]``.

``mf_assets``: the folder of real test data (:func:`mf_config.testing.find_assets`, from pytest's rootdir).
``budget``, the ``--long`` option and the reliability tally printed at the end: :mod:`mf_config.reliability`.
"""

import pytest

from mf_config.reliability import budget, pytest_addoption, pytest_terminal_summary  # noqa: F401 - plugin hooks
from mf_config.testing import find_assets


@pytest.fixture(scope="session")
def mf_assets(request):
    """Path to the shared test assets (tokenizers/, text/, mindformers-yaml/)."""
    path = find_assets(request.config.rootpath)
    if path is None or not path.is_dir():
        pytest.fail("test assets not found: set MF_ASSETS or place shared/assets beside the project root")
    return path
