import pytest

from .helpers import HARD_STRINGS

pytest_plugins = ["mf_config.pytest_plugin"]  # mf_assets


@pytest.fixture(scope="session")
def tokenizers_dir(mf_assets):
    return mf_assets / "tokenizers"


@pytest.fixture(scope="session")
def sp_model(tokenizers_dir):
    return tokenizers_dir / "mistral-7b-v0.1.sp.model"


@pytest.fixture(scope="session")
def pydocs_lines(mf_assets):
    """Every line of pydocs.txt (without its newline)."""
    return (mf_assets / "text" / "pydocs.txt").read_text(encoding="utf-8").split("\n")


@pytest.fixture(scope="session")
def llama(sp_model):
    from mf_tokenizers import LlamaTokenizer

    return LlamaTokenizer(sp_model)


@pytest.fixture(scope="session")
def sp_reference(sp_model):
    import sentencepiece

    return sentencepiece.SentencePieceProcessor(model_file=str(sp_model))


@pytest.fixture(scope="session")
def all_texts(pydocs_lines):
    """Every pydocs line and the hard strings."""
    return pydocs_lines + HARD_STRINGS


@pytest.fixture(scope="session")
def gpt2_tiktoken(tokenizers_dir):
    """tiktoken with gpt2.tiktoken's ranks, GPT-2's pattern and <|endoftext|> = 50256."""
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    from mf_tokenizers.byte_level import GPT2_PATTERN

    ranks = load_tiktoken_bpe(str(tokenizers_dir / "gpt2.tiktoken"))
    return tiktoken.Encoding("gpt2", pat_str=GPT2_PATTERN, mergeable_ranks=ranks,
                             special_tokens={"<|endoftext|>": 50256})


@pytest.fixture(scope="session")
def llama3_tiktoken(tokenizers_dir):
    """tiktoken with the cl100k ranks, Llama 3's pattern and its 256 special tokens after the ranks."""
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    from mf_tokenizers.byte_level import LLAMA3_PATTERN
    from mf_tokenizers.llama3 import llama3_special_tokens

    ranks = load_tiktoken_bpe(str(tokenizers_dir / "cl100k_base.tiktoken"))
    specials = {name: len(ranks) + i for i, name in enumerate(llama3_special_tokens())}
    return tiktoken.Encoding("llama3", pat_str=LLAMA3_PATTERN, mergeable_ranks=ranks, special_tokens=specials)


@pytest.fixture(scope="session")
def gpt2_fast(tokenizers_dir):
    from mf_tokenizers import GPT2TokenizerFast

    return GPT2TokenizerFast(tokenizers_dir / "gpt2.tiktoken")


@pytest.fixture(scope="session")
def gpt2_slow(tokenizers_dir):
    from mf_tokenizers import GPT2Tokenizer

    return GPT2Tokenizer(tokenizers_dir / "gpt2.tiktoken")


@pytest.fixture(scope="session")
def llama3(tokenizers_dir):
    from mf_tokenizers import Llama3Tokenizer

    return Llama3Tokenizer(tokenizers_dir / "cl100k_base.tiktoken")


@pytest.fixture(scope="session")
def llama_fast(sp_model):
    from mf_tokenizers import LlamaTokenizerFast

    return LlamaTokenizerFast(sp_model)
