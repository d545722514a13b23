"""Shared fixtures: MindSpore in graph mode, the tokenizer and a dataset made by mf-data from the shared text."""

import mindspore as ms
import pytest

from .helpers import preprocess

pytest_plugins = ["mf_config.pytest_plugin"]  # mf_assets


@pytest.fixture(autouse=True, scope="session")
def graph_mode():
    ms.set_context(mode=ms.GRAPH_MODE)
    yield


@pytest.fixture(scope="session")
def sp_model(mf_assets):
    return mf_assets / "tokenizers" / "mistral-7b-v0.1.sp.model"


@pytest.fixture(scope="session")
def wiki(tmp_path_factory, mf_assets, sp_model):
    """WikiText validation text as an indexed dataset of 33-token records (about 1,200)."""
    return preprocess(tmp_path_factory.mktemp("data") / "wiki", "wiki", mf_assets / "text" / "wiki.valid.tokens",
                      sp_model)
