"""Llama3Tokenizer (cl100k ranks + Llama 3's pattern and 256 specials) against tiktoken."""

import pickle

import pytest

from mf_tokenizers import AutoTokenizer, Llama3Tokenizer, TokenizerError


def test_equals_tiktoken_on_every_line(llama3, llama3_tiktoken, all_texts):
    ref = llama3_tiktoken.encode_batch(all_texts, allowed_special="all")
    bos = llama3_tiktoken.encode_single_token("<|begin_of_text|>")
    assert llama3(all_texts)["input_ids"] == [[bos, *r] for r in ref]
    assert llama3.batch_decode(ref) == all_texts
    plain = [i for i, t in enumerate(all_texts) if "<|" not in t]
    assert llama3.batch_decode([[bos, *ref[i]] for i in plain], skip_special_tokens=True) == \
        [all_texts[i] for i in plain]


def test_special_tokens(llama3, llama3_tiktoken):
    assert len(llama3) == llama3.vocab_size == 100256 + 256
    assert llama3.convert_tokens_to_ids(["<|begin_of_text|>", "<|eot_id|>", "<|reserved_special_token_250|>"]) == \
        [100256, 100265, 100511]
    text = "hi<|eot_id|>there<|reserved_special_token_7|>"
    assert llama3.encode(text, add_special_tokens=False) == llama3_tiktoken.encode(text, allowed_special="all")
    assert llama3.encode(text, add_special_tokens=False, split_special_tokens=True) == \
        llama3_tiktoken.encode_ordinary(text)
    assert llama3.decode(llama3.encode(text), skip_special_tokens=True) == "hithere"
    assert llama3.tokenize("Hello world") == ["Hello", "Ġworld"]
    vocab = llama3.get_vocab()
    assert len(vocab) == 100512 and vocab["<|eot_id|>"] == 100265
    assert vocab["Ġworld"] == llama3_tiktoken.encode_single_token(b" world")
    assert llama3.convert_tokens_to_ids(["Hello", "Ġworld"]) == llama3_tiktoken.encode("Hello world")


def test_added_tokens_and_pickle(tokenizers_dir, llama3_tiktoken):
    tok = Llama3Tokenizer(tokenizers_dir / "cl100k_base.tiktoken", pad_token="<|reserved_special_token_0|>")
    assert tok.pad_token_id == 100258
    assert tok.add_tokens(["<tool_call>"]) == 1 and tok.convert_tokens_to_ids("<tool_call>") == 100512
    ids = tok.encode("a<tool_call>b", add_special_tokens=False)
    assert ids == llama3_tiktoken.encode("a") + [100512] + llama3_tiktoken.encode("b")
    again = pickle.loads(pickle.dumps(tok))
    assert again.encode("a<tool_call>b<|eot_id|>") == tok.encode("a<tool_call>b<|eot_id|>")
    assert again.decode(ids) == "a<tool_call>b"


def test_save_and_yaml(tokenizers_dir, mf_assets, llama3, tmp_path):
    llama3.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert type(loaded) is Llama3Tokenizer and loaded.encode("x y") == llama3.encode("x y")
    assert (tmp_path / "tokenizer.model").read_bytes() == (tokenizers_dir / "cl100k_base.tiktoken").read_bytes()
    yaml = mf_assets / "mindformers-yaml" / "predict_llama3_8b_800T_A2_64G.yaml"
    tok = AutoTokenizer.from_pretrained(yaml, overrides=[
        f"processor.tokenizer.vocab_file={tokenizers_dir / 'cl100k_base.tiktoken'}"])
    assert type(tok) is Llama3Tokenizer and tok.model_max_length == 8192 and tok.pad_token_id == 100258


def test_truncated_or_wrong_ranks_file(tokenizers_dir, sp_model, tmp_path):
    data = (tokenizers_dir / "cl100k_base.tiktoken").read_bytes()
    bad = tmp_path / "tokenizer.model"
    bad.write_bytes(data[:1000] + b"\n")
    with pytest.raises(TokenizerError) as e:
        Llama3Tokenizer(bad)
    assert e.value.line is not None and "truncated" in str(e.value)
    with pytest.raises(TokenizerError, match="tiktoken ranks file"):
        Llama3Tokenizer(sp_model)


def test_decode_errors_modes(tokenizers_dir, llama3, gpt2_slow, sp_model):
    from mf_tokenizers import GPT2Tokenizer, LlamaTokenizer

    half = llama3.tiktoken.encode_single_token(b"\xe6")  # a lone UTF-8 lead byte
    assert llama3.decode([half]) == "\ufffd"
    strict = Llama3Tokenizer(tokenizers_dir / "cl100k_base.tiktoken", errors="strict")
    with pytest.raises(TokenizerError, match="do not decode to UTF-8"):
        strict.decode([half])
    gpt2_strict = GPT2Tokenizer(tokenizers_dir / "gpt2.tiktoken", errors="strict")
    lead = gpt2_slow.convert_tokens_to_ids("æ")  # byte 0xe6 in the byte-level alphabet
    assert gpt2_slow.decode([lead]) == "\ufffd"
    with pytest.raises(TokenizerError, match="do not decode to UTF-8"):
        gpt2_strict.decode([lead])
    with pytest.raises(TokenizerError, match="errors in replace, not 'strict'"):
        LlamaTokenizer(sp_model, errors="strict")
