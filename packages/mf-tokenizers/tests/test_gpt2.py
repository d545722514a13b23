"""GPT2Tokenizer (plain Python) and GPT2TokenizerFast built from gpt2.tiktoken against tiktoken."""

import pytest

from mf_tokenizers import AutoTokenizer, GPT2Tokenizer, GPT2TokenizerFast, TokenizerError

EOT = "<|endoftext|>"


@pytest.fixture(scope="module")
def reference(gpt2_tiktoken, all_texts):
    return gpt2_tiktoken.encode_batch(all_texts, allowed_special="all")


@pytest.mark.slow
def test_slow_equals_tiktoken_on_every_line(gpt2_slow, reference, all_texts):
    assert gpt2_slow(all_texts)["input_ids"] == reference
    assert gpt2_slow.batch_decode(reference) == all_texts


def test_fast_equals_tiktoken_on_every_line(gpt2_fast, reference, all_texts):
    assert gpt2_fast(all_texts)["input_ids"] == reference
    assert gpt2_fast.batch_decode(reference) == all_texts


@pytest.mark.parametrize("fixture", ["gpt2_slow", "gpt2_fast"])
def test_endoftext_only_when_allowed(fixture, request, gpt2_tiktoken):
    tok = request.getfixturevalue(fixture)
    text = f"one{EOT}two {EOT}"
    assert tok.encode(text) == gpt2_tiktoken.encode(text, allowed_special="all")
    assert tok.encode(text).count(50256) == 2
    assert tok.encode(text, split_special_tokens=True) == gpt2_tiktoken.encode_ordinary(text)
    assert tok.decode(tok.encode(text)) == text
    assert tok.decode(tok.encode(text), skip_special_tokens=True) == "onetwo "
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id, len(tok)) == (50256, 50256, None, 50257)
    assert tok.tokenize(" hello world") == ["Ġhello", "Ġworld"]


def test_vocab_merges_files_round_trip(gpt2_slow, gpt2_tiktoken, pydocs_lines, tmp_path):
    """The vocab.json + merges.txt derived from the ranks, read back by us and by Hugging Face."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    gpt2_slow.save_pretrained(tmp_path)
    texts = pydocs_lines[:3000]
    ref = gpt2_tiktoken.encode_ordinary_batch(texts)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert type(reloaded) is GPT2Tokenizer
    assert reloaded(texts, add_special_tokens=False)["input_ids"] == ref
    fast = GPT2TokenizerFast(tmp_path / "vocab.json", tmp_path / "merges.txt")
    assert fast(texts)["input_ids"] == ref
    hf = Tokenizer(models.BPE.from_file(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt")))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    assert [e.ids for e in hf.encode_batch(texts)] == ref


def test_bad_vocab_and_merges(tmp_path, gpt2_slow):
    gpt2_slow.save_pretrained(tmp_path)
    with pytest.raises(TokenizerError, match="no such file.*merges"):
        GPT2Tokenizer(tmp_path / "vocab.json", tmp_path / "nothing.txt")
    lines = (tmp_path / "merges.txt").read_text(encoding="utf-8").split("\n")
    (tmp_path / "merges.txt").write_text("\n".join(lines[:30000]) + "\n", encoding="utf-8")
    with pytest.raises(TokenizerError, match="29999 merges make none of 20001 .*merges.txt truncated"):
        GPT2Tokenizer(tmp_path / "vocab.json", tmp_path / "merges.txt")
    (tmp_path / "merges.txt").write_text("\n".join(lines[:100]) + "\nĠt", encoding="utf-8")
    with pytest.raises(TokenizerError) as e:
        GPT2Tokenizer(tmp_path / "vocab.json", tmp_path / "merges.txt")
    assert e.value.line == 101 and "merges.txt" in str(e.value)
    text = (tmp_path / "vocab.json").read_text(encoding="utf-8")
    (tmp_path / "vocab.json").write_text(text[: len(text) // 2], encoding="utf-8")
    with pytest.raises(TokenizerError, match="invalid JSON.*truncated"):
        GPT2Tokenizer(tmp_path / "vocab.json", tmp_path / "merges.txt")


def test_gpt2_yaml_and_tiktoken_detection(mf_assets, tokenizers_dir, tmp_path):
    tok = AutoTokenizer.from_pretrained(tokenizers_dir / "gpt2.tiktoken")
    assert type(tok) is GPT2TokenizerFast and tok.eos_token_id == 50256
    tok = AutoTokenizer.from_pretrained(mf_assets / "mindformers-yaml" / "run_gpt2.yaml",
                                        vocab_file=str(tokenizers_dir / "gpt2.tiktoken"))
    assert type(tok) is GPT2Tokenizer and tok.pad_token_id == 50256


def test_prepare_for_model_as_mindformers_wikitext_script(mf_assets, gpt2_tiktoken, tokenizers_dir):
    """MindFormers' GPT-2 wikitext preprocessing: encode a passage, then prepare_for_model with
    padding to max_length and truncation from the left."""
    tok = AutoTokenizer.from_pretrained(mf_assets / "mindformers-yaml" / "run_gpt2.yaml",
                                        vocab_file=str(tokenizers_dir / "gpt2.tiktoken"))
    lines = [x.strip() for x in (mf_assets / "text" / "wiki.valid.tokens").read_text(encoding="utf-8").splitlines()]
    passages = [x for x in lines if x and not x.startswith("=")][:50]
    max_length = 64
    seen = set()
    for text in passages:
        ids = tok.encode(text)
        out = tok.prepare_for_model(ids=ids, pair_ids=None, add_special_tokens=False, max_length=max_length,
                                    padding="max_length", truncate_direction="LEFT", return_overflowing_tokens=False,
                                    return_attention_mask=True)
        ref = gpt2_tiktoken.encode(text)[-max_length:]
        pad = max_length - len(ref)
        assert out["input_ids"] == ref + [50256] * pad
        assert out["attention_mask"] == [1] * len(ref) + [0] * pad
        seen.add("padded" if pad else "truncated" if len(ids) > max_length else "exact")
    assert {"padded", "truncated"} <= seen


@pytest.mark.parametrize("text", ["x" * 100_000, "ab" * 30_000, " " * 20_000 + "x", "🤗" * 5_000])
def test_long_pieces_equal_tiktoken(gpt2_slow, gpt2_fast, gpt2_tiktoken, text):
    ref = gpt2_tiktoken.encode_ordinary(text)
    assert gpt2_slow.encode(text) == ref
    assert gpt2_fast.encode(text) == ref
