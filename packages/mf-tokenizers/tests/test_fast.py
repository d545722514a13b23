"""The tokenizers-backed classes: LlamaTokenizerFast converted from the SentencePiece model equals
LlamaTokenizer; PreTrainedTokenizerFast/BloomTokenizerFast equal the raw tokenizers library."""

import pytest

from mf_tokenizers import BloomTokenizerFast, LlamaTokenizer, LlamaTokenizerFast, PreTrainedTokenizerFast

from .helpers import HARD_STRINGS

SPECIAL_STRINGS = ["Hello <s> world", "x</s>y", "<s>", "a <unk> b", " </s> ", "<s><s>two"]


def test_llama_fast_equals_llama(llama, llama_fast, all_texts):
    texts = all_texts + SPECIAL_STRINGS
    ids = llama(texts)["input_ids"]
    assert llama_fast(texts)["input_ids"] == ids
    assert llama_fast.batch_decode(ids) == llama.batch_decode(ids)
    assert llama_fast.batch_decode(ids, skip_special_tokens=True) == llama.batch_decode(ids, skip_special_tokens=True)
    assert [llama_fast.tokenize(t) for t in HARD_STRINGS] == [llama.tokenize(t) for t in HARD_STRINGS]


def test_llama_fast_non_legacy_equals_llama_non_legacy(sp_model):
    slow, fast = LlamaTokenizer(sp_model, legacy=False), LlamaTokenizerFast(sp_model, legacy=False)
    # tokenizers' Metaspace adds no dummy prefix to a text that starts with a space (as in Hugging Face's
    # non-legacy LlamaTokenizerFast), so those texts are left out here
    texts = [t for t in SPECIAL_STRINGS + HARD_STRINGS if t[:1] not in (" ", "\t", "\n")]
    assert fast(texts)["input_ids"] == slow(texts)["input_ids"]
    # after a special token no dummy-prefix space is added
    assert slow.tokenize("a</s>b") == ["▁a", "</s>", "b"]


def test_llama_fast_flags_and_truncation(sp_model, sp_reference):
    tok = LlamaTokenizerFast(sp_model, add_eos_token=True)
    ids = sp_reference.encode("a long enough sentence here")
    assert tok.encode("a long enough sentence here") == [1, *ids, 2]
    assert tok.encode("a long enough sentence here", max_length=4) == [1, *ids[:2], 2]
    assert tok("a", "b")["input_ids"] == [1, *sp_reference.encode("a"), 2, 1, *sp_reference.encode("b"), 2]


@pytest.fixture(scope="module")
def templated_json(tmp_path_factory, gpt2_fast):
    """A tokenizer.json whose post-processor wraps text as <s> A </s> and pairs as <s> A </s></s> B </s>."""
    from tokenizers import AddedToken, Tokenizer, processors

    backend = Tokenizer.from_str(gpt2_fast.backend_tokenizer.to_str())
    backend.add_special_tokens([AddedToken(t, special=True) for t in ("<s>", "</s>", "<pad>", "<unk>")])
    s, e = backend.token_to_id("<s>"), backend.token_to_id("</s>")
    backend.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", s), ("</s>", e)])
    path = tmp_path_factory.mktemp("bloom") / "tokenizer.json"
    backend.save(str(path))
    return path


def test_bloom_fast_equals_tokenizers(templated_json, pydocs_lines):
    from tokenizers import Tokenizer

    raw = Tokenizer.from_file(str(templated_json))
    tok = BloomTokenizerFast(tokenizer_file=templated_json)
    texts = pydocs_lines[:2000]
    assert tok(texts)["input_ids"] == [e.ids for e in raw.encode_batch(texts)]
    assert tok.pad_token_id == raw.token_to_id("<pad>") and (tok.add_bos_token, tok.add_eos_token) == (True, True)
    pairs = list(zip(texts[:50], texts[50:100]))
    assert tok(texts[:50], texts[50:100])["input_ids"] == [e.ids for e in raw.encode_batch(pairs)]
    raw.enable_truncation(12)
    assert tok(texts[:50], truncation=True, max_length=12)["input_ids"] == [e.ids for e in raw.encode_batch(texts[:50])]
    assert tok.decode(tok.encode(texts[0]), skip_special_tokens=True) == texts[0]


def test_any_tokenizer_json_with_added_tokens(templated_json):
    tok = PreTrainedTokenizerFast(tokenizer_file=templated_json, eos_token="</s>")
    n = len(tok)
    assert tok.add_tokens(["<tool>"]) == 1 and tok.convert_tokens_to_ids("<tool>") == n
    assert tok.encode("a<tool>b", add_special_tokens=False)[1] == n
    assert tok.add_special_tokens({"additional_special_tokens": ["<|im_end|>"]}) == 1
    assert tok.decode(tok.encode("hi<|im_end|>"), skip_special_tokens=True) == "hi"
    assert {k: v for k, v in tok.get_added_vocab().items() if v >= n} == {"<tool>": n, "<|im_end|>": n + 1}


def test_truncated_or_wrong_tokenizer_json(templated_json, sp_model, tmp_path):
    from mf_tokenizers import TokenizerError

    bad = tmp_path / "tokenizer.json"
    bad.write_text(templated_json.read_text(encoding="utf-8")[:5000], encoding="utf-8")
    with pytest.raises(TokenizerError, match="not a Hugging Face tokenizer.json: wrong format or truncated") as e:
        BloomTokenizerFast(tokenizer_file=bad)
    assert str(bad) in str(e.value)
    with pytest.raises(TokenizerError, match="not a Hugging Face tokenizer.json"):
        PreTrainedTokenizerFast(tokenizer_file=sp_model)


@pytest.fixture(scope="module")
def trained_models(tmp_path_factory, pydocs_lines):
    """Small SentencePiece models trained on pydocs: a BPE one with a user-defined piece, a unigram one."""
    import sentencepiece

    folder = tmp_path_factory.mktemp("spm")
    common = dict(sentence_iterator=iter(pydocs_lines[:3000]), vocab_size=600, normalization_rule_name="identity",
                  remove_extra_whitespaces=False, byte_fallback=True, minloglevel=2, num_threads=1)
    with open(folder / "bpe.model", "wb") as f:
        sentencepiece.SentencePieceTrainer.train(model_writer=f, model_type="bpe", user_defined_symbols=["<tool>"],
                                                 split_digits=True, allow_whitespace_only_pieces=True, **common)
    common["sentence_iterator"] = iter(pydocs_lines[:3000])
    with open(folder / "unigram.model", "wb") as f:
        sentencepiece.SentencePieceTrainer.train(model_writer=f, model_type="unigram", **common)
    return folder


def test_trained_sentencepiece_models(trained_models, pydocs_lines):
    import sentencepiece

    from mf_tokenizers import TokenizerError

    texts = pydocs_lines[3000:8000] + HARD_STRINGS + ["a<tool>b"]
    for name in ("bpe.model", "unigram.model"):
        sp = sentencepiece.SentencePieceProcessor(model_file=str(trained_models / name))
        tok = LlamaTokenizer(trained_models / name)
        assert tok(texts, add_special_tokens=False, split_special_tokens=True)["input_ids"] == sp.encode(texts)
    fast = LlamaTokenizerFast(trained_models / "bpe.model")
    sp = sentencepiece.SentencePieceProcessor(model_file=str(trained_models / "bpe.model"))
    plain = [t for t in texts if "<tool>" not in t]
    assert fast(plain, add_special_tokens=False, split_special_tokens=True)["input_ids"] == sp.encode(plain)
    assert fast.tokenize("a<tool>b") == ["▁a", "<tool>", "▁b"]  # Hugging Face's rule after an added token
    with pytest.raises(TokenizerError, match="only SentencePiece BPE models convert"):
        LlamaTokenizerFast(trained_models / "unigram.model")


def test_every_code_point_equals_the_references(gpt2_fast, gpt2_tiktoken, llama3, llama_fast, sp_reference):
    """tokenizers' regex engine (Oniguruma) and tiktoken's must agree on which characters are letters,
    numbers and spaces, and the converted SentencePiece model on byte fallback: every code point, alone,
    doubled, next to letters, digits, an apostrophe and spaces."""
    from mf_tokenizers.convert import to_fast

    points = [c for c in range(0x20, 0x323B0) if not 0xD800 <= c < 0xE000]
    texts = ["".join(f" x{chr(c)}1{chr(c)}{chr(c)}'s  " for c in points[i:i + 64]) for i in range(0, len(points), 64)]
    assert gpt2_fast(texts, split_special_tokens=True)["input_ids"] == gpt2_tiktoken.encode_ordinary_batch(texts)
    assert to_fast(llama3)(texts)["input_ids"] == llama3(texts)["input_ids"]
    ids = llama_fast(texts, add_special_tokens=False, split_special_tokens=True)["input_ids"]
    assert ids == sp_reference.encode(texts)
    assert llama_fast.batch_decode(ids) == sp_reference.decode(ids)  # U+2581 itself decodes to a space
