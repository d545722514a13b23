import json

import pytest
import sentencepiece as spm

pytest_plugins = ["mf_config.pytest_plugin"]  # mf_assets


@pytest.fixture(scope="session")
def sp_model(mf_assets):
    return mf_assets / "tokenizers" / "mistral-7b-v0.1.sp.model"


@pytest.fixture(scope="session")
def sp(sp_model):
    """The reference: SentencePiece itself."""
    return spm.SentencePieceProcessor(model_file=str(sp_model))


@pytest.fixture(scope="session")
def alpaca_records(mf_assets):
    return json.loads((mf_assets / "text" / "alpaca_pydocs.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def alpaca_small(tmp_path_factory, alpaca_records):
    """400 real alpaca records (with and without input)."""
    path = tmp_path_factory.mktemp("alpaca") / "alpaca_small.json"
    path.write_text(json.dumps(alpaca_records[:400], indent=1), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def wiki_small(tmp_path_factory, mf_assets):
    """The first ~40 articles of the real WikiText-layout file."""
    lines = (mf_assets / "text" / "wiki.train.tokens").read_text(encoding="utf-8").splitlines(keepends=True)
    path = tmp_path_factory.mktemp("wiki") / "wiki.small.tokens"
    path.write_text("".join(lines[:2500]), encoding="utf-8")
    return path
