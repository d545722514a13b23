"""Shared fixtures: tiny Hugging Face models converted to ours by mf-ckpt (the oracle and our network on the same
weights), the shared assets, and MindSpore in graph mode."""

import mindspore as ms
import pytest



@pytest.fixture(autouse=True, scope="session")
def graph_mode():
    ms.set_context(mode=ms.GRAPH_MODE)
    yield
