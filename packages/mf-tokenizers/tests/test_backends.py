"""Every class is the one front class over a backend that implements the whole Backend protocol."""

import pytest

from mf_tokenizers import PreTrainedTokenizerBase
from mf_tokenizers.backends import Backend

CLASSES = ["llama", "llama_fast", "llama3", "gpt2_slow", "gpt2_fast"]


@pytest.mark.parametrize("fixture", CLASSES)
def test_front_over_a_backend(fixture, request):
    tok = request.getfixturevalue(fixture)
    assert isinstance(tok, PreTrainedTokenizerBase) and isinstance(tok.backend, Backend)
    assert len(tok.backend) == len(tok) and tok.backend.vocab_size() == tok.vocab_size
    ids = tok.encode("Hello world", add_special_tokens=False)
    assert tok.backend.encode(["Hello world"], [], [], False) == [ids]
    assert tok.backend.decode([ids], False) == ["Hello world"]


def test_threads_and_errors_reach_the_backend(llama3):
    import pickle

    tok = pickle.loads(pickle.dumps(llama3))
    tok.num_threads, tok.errors = 1, "ignore"
    assert (tok.backend.num_threads, tok.backend.errors) == (1, "ignore")
    half = tok.tiktoken.encode_single_token(b"\xe6")  # a lone UTF-8 lead byte
    assert tok.decode([half]) == ""
