"""LlamaTokenizer against sentencepiece itself, on every line of pydocs.txt and on hard strings."""

import pickle

import numpy as np
import pytest

from mf_tokenizers import LlamaTokenizer, TokenizerError

from .helpers import HARD_STRINGS


def test_equals_sentencepiece_on_every_pydocs_line(llama, sp_reference, pydocs_lines):
    ours = llama(pydocs_lines)["input_ids"]
    ref = sp_reference.encode(pydocs_lines)
    assert ours == [[1, *r] for r in ref]
    assert llama(pydocs_lines, add_special_tokens=False)["input_ids"] == ref
    assert llama.batch_decode(ours, skip_special_tokens=True) == pydocs_lines


@pytest.mark.parametrize("text", [s for s in HARD_STRINGS if "<" not in s])
def test_hard_strings(llama, sp_reference, text):
    assert llama.encode(text, add_special_tokens=False) == sp_reference.encode(text)
    assert llama.tokenize(text) == sp_reference.encode(text, out_type=str)
    assert llama.decode(llama.encode(text), skip_special_tokens=True) == sp_reference.decode(sp_reference.encode(text))


def test_byte_fallback_is_lossless(llama, sp_reference):
    text = "𝔘 ꙮ 🤗"
    ids = llama.encode(text, add_special_tokens=False)
    assert any(sp_reference.is_byte(i) for i in ids)
    assert llama.decode(ids) == text


def test_special_tokens_and_flags(sp_model, sp_reference):
    tok = LlamaTokenizer(sp_model, add_eos_token=True)
    assert (tok.bos_token_id, tok.eos_token_id, tok.unk_token_id, tok.pad_token_id) == (1, 2, 0, 0)
    assert tok.encode("Hi there") == [1, *sp_reference.encode("Hi there"), 2]
    assert LlamaTokenizer(sp_model, add_bos_token=False).encode("Hi") == sp_reference.encode("Hi")
    # special tokens written in the text are recognised (each piece keeps its dummy prefix: legacy)
    assert tok.encode("a</s>b", add_special_tokens=False) == sp_reference.encode("a") + [2] + sp_reference.encode("b")
    assert tok.encode("a</s>b", add_special_tokens=False, split_special_tokens=True) == sp_reference.encode("a</s>b")
    assert tok.decode([1, *sp_reference.encode("Hi"), 2], skip_special_tokens=True) == "Hi"
    assert tok.vocab_size == len(tok) == 32000 and tok.get_vocab()["<s>"] == 1
    assert tok.convert_ids_to_tokens(tok.convert_tokens_to_ids(["▁Hello", "<s>"])) == ["▁Hello", "<s>"]


def test_added_tokens(sp_model, sp_reference):
    tok = LlamaTokenizer(sp_model)
    assert tok.add_tokens(["<tool>", "▁Hello"]) == 1
    assert tok.add_special_tokens({"additional_special_tokens": ["<|im_end|>"], "pad_token": "<pad>"}) == 2
    assert len(tok) == 32003 and tok.vocab_size == 32000 and tok.pad_token_id == 32002
    ids = tok.encode("x<tool>y<|im_end|>", add_special_tokens=False)
    assert ids == sp_reference.encode("x") + [32000] + sp_reference.encode("y") + [32001]
    assert tok.decode(ids) == "x<tool> y<|im_end|>"
    assert tok.decode(ids, skip_special_tokens=True) == "x<tool> y"


def test_padding_truncation_and_arrays(llama, sp_reference):
    texts = ["one", "a much longer sentence than the first one"]
    out = llama(texts, padding=True, return_tensors="np")
    n = len(sp_reference.encode(texts[1])) + 1
    assert out["input_ids"].shape == (2, n) and out["input_ids"].dtype == np.int64
    assert out["attention_mask"][0].tolist() == [1, 1] + [0] * (n - 2)
    assert out["input_ids"][0, 2:].tolist() == [llama.pad_token_id] * (n - 2)
    cut = llama(texts, truncation=True, max_length=4)["input_ids"]
    assert cut[1] == [1, *sp_reference.encode(texts[1])[:3]]
    left = llama(texts[1], max_length=4, truncate_direction="LEFT")["input_ids"]
    assert left == [1, *sp_reference.encode(texts[1])[-3:]]
    padded = llama(texts[0], padding="max_length", max_length=6)
    assert len(padded["input_ids"]) == 6 and sum(padded["attention_mask"]) == 2
    with pytest.raises(TokenizerError, match="sequences differ in length"):
        llama(texts, return_tensors="np")


def test_pairs_and_prepare_for_model(sp_model, sp_reference):
    tok = LlamaTokenizer(sp_model, add_eos_token=True)
    a, b = sp_reference.encode("first part here"), sp_reference.encode("second")
    assert tok("first part here", "second")["input_ids"] == [1, *a, 2, 1, *b, 2]
    out = tok.prepare_for_model(a, max_length=4, truncation=True, padding="max_length")
    assert out["input_ids"] == [1, *a[:2], 2]
    out = tok.prepare_for_model(a, max_length=4, truncate_direction="left")
    assert out["input_ids"] == [1, *a[-2:], 2]
    out = tok.prepare_for_model(a[:1], max_length=5, padding="max_length")
    assert out["input_ids"] == [1, a[0], 2, 0, 0] and out["attention_mask"] == [1, 1, 1, 0, 0]


def test_pickle_and_save_pretrained(llama, pydocs_lines, tmp_path):
    from mf_tokenizers import AutoTokenizer

    texts = pydocs_lines[:200]
    again = pickle.loads(pickle.dumps(llama))
    assert again(texts)["input_ids"] == llama(texts)["input_ids"]
    llama.save_pretrained(tmp_path / "tok")
    loaded = AutoTokenizer.from_pretrained(tmp_path / "tok")
    assert type(loaded) is LlamaTokenizer
    assert loaded(texts)["input_ids"] == llama(texts)["input_ids"]


def test_bad_vocabulary_files(tmp_path, sp_model, tokenizers_dir):
    with pytest.raises(TokenizerError, match="no such file") as e:
        LlamaTokenizer(tmp_path / "missing.model")
    assert "missing.model" in str(e.value)
    truncated = tmp_path / "tokenizer.model"
    truncated.write_bytes(sp_model.read_bytes()[:100000])
    with pytest.raises(TokenizerError, match="not a SentencePiece model.*truncated"):
        LlamaTokenizer(truncated)
    with pytest.raises(TokenizerError, match="tiktoken ranks file"):
        LlamaTokenizer(tokenizers_dir / "gpt2.tiktoken")
    with pytest.raises(TokenizerError, match="does not take option.*colour"):
        LlamaTokenizer(sp_model, colour="red")


@pytest.mark.parametrize("fixture", ["llama", "llama_fast", "llama3", "gpt2_slow", "gpt2_fast"])
def test_non_string_input_is_a_clear_error(fixture, request):
    tok = request.getfixturevalue(fixture)
    with pytest.raises(TokenizerError, match="text must be a string or a list of strings; item 1 is a int"):
        tok(["fine", 3])
    if fixture != "llama3":  # tiktoken replaces a lone surrogate itself
        with pytest.raises(TokenizerError, match="text 1 is not valid Unicode: a lone surrogate at character 2"):
            tok(["fine", "ab\ud800"])


@pytest.mark.parametrize("fixture", ["llama", "llama_fast", "llama3", "gpt2_slow", "gpt2_fast"])
@pytest.mark.parametrize("text", ["x" * 100_000, " " * 20_000 + "x", "nul\x00byte"])
def test_long_runs_and_control_characters(fixture, text, request):
    tok = request.getfixturevalue(fixture)
    assert tok.decode(tok.encode(text), skip_special_tokens=True) == text


def test_a_batch_pauses_the_cycle_collector_and_settles_its_debt(llama, pydocs_lines):
    import gc

    passes = []

    def count(phase, info):
        if phase == "start":
            passes.append(info["generation"])

    lines = [line for line in pydocs_lines if line][:6000]  # 12,000 lists with the masks: 17 passes unpaused
    gc.callbacks.append(count)
    try:
        out = llama(lines)
        assert passes in ([], [0]), "at most the one young-generation pass that settles the batch's lists"
        assert gc.isenabled()
        assert gc.get_count()[0] <= gc.get_threshold()[0], "the caller's next allocation owes no pass"
        assert len(out["input_ids"]) == len(out["attention_mask"]) == len(lines)
        with pytest.raises(TokenizerError):
            llama(["fine", 3])
        assert gc.isenabled(), "an error in a batch leaves the collector running"
        gc.disable()  # the caller's own choice is kept
        try:
            llama(lines[:10])
            assert not gc.isenabled()
        finally:
            gc.enable()
    finally:
        gc.callbacks.remove(count)


def test_batches_in_threads_at_once_leave_the_collector_running(llama, pydocs_lines):
    import gc
    from concurrent.futures import ThreadPoolExecutor

    chunks = [[line for line in pydocs_lines[i::8] if line][:400] for i in range(8)]
    alone = [llama(chunk)["input_ids"] for chunk in chunks]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda chunk: llama(chunk)["input_ids"], chunks * 3))
    assert together == alone * 3
    assert gc.isenabled()
