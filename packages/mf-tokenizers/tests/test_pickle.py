"""Every tokenizer pickles to one that encodes identically, and works in spawned worker processes."""

import multiprocessing
import pickle

import pytest

from mf_tokenizers import BloomTokenizerFast

CLASSES = ["llama", "llama_fast", "llama3", "gpt2_slow", "gpt2_fast"]


@pytest.mark.parametrize("fixture", CLASSES)
def test_pickle_round_trip(fixture, request, all_texts):
    tok = request.getfixturevalue(fixture)
    texts = all_texts[::20]
    again = pickle.loads(pickle.dumps(tok))
    assert type(again) is type(tok)
    assert again(texts)["input_ids"] == tok(texts)["input_ids"]
    assert again.special_tokens_map == tok.special_tokens_map and len(again) == len(tok)


def test_pickle_keeps_added_tokens(gpt2_fast, tmp_path):
    gpt2_fast.save_pretrained(tmp_path)
    tok = BloomTokenizerFast(tokenizer_file=tmp_path / "tokenizer.json", eos_token="<|endoftext|>")
    tok.add_tokens(["<tool>"])
    again = pickle.loads(pickle.dumps(tok))
    assert again.encode("a<tool>b<pad>") == tok.encode("a<tool>b<pad>")
    assert again.pad_token_id == tok.pad_token_id == tok.convert_tokens_to_ids("<pad>")


def _encode(args):
    tok, texts = args
    return tok(texts)["input_ids"]


def test_spawned_workers_encode_identically(llama, llama3, pydocs_lines):
    chunks = [pydocs_lines[i:i + 200] for i in range(0, 800, 200)]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        for tok in (llama, llama3):
            assert pool.map(_encode, [(tok, c) for c in chunks]) == [tok(c)["input_ids"] for c in chunks]


def test_pickle_keeps_split_special_tokens(gpt2_fast, gpt2_tiktoken, tmp_path):
    """tokenizers does not pickle its encode_special_tokens switch; the tokenizer's own flag still holds."""
    from mf_tokenizers import GPT2TokenizerFast

    tok = GPT2TokenizerFast(tokenizer_file=_saved(gpt2_fast, tmp_path), split_special_tokens=True)
    again = pickle.loads(pickle.dumps(tok))
    text = "one<|endoftext|>two"
    assert again.encode(text) == tok.encode(text) == gpt2_tiktoken.encode_ordinary(text)
    assert again.encode(text, split_special_tokens=False) == gpt2_tiktoken.encode(text, allowed_special="all")


def _saved(tok, folder):
    tok.save_pretrained(folder)
    return folder / "tokenizer.json"
