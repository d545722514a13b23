"""Tokenizer files are checked for consistency before a library loads them (unique ids running 0..n-1, merges that
make vocabulary tokens, well-formed SentencePiece models, typed tokenizer_config.json keys); hostile or damaged
files (fuzzed) end in a tokenizer or one line naming the file, never another exception or a hang."""

import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mf_config.errors import MFError
from mf_config.reliability import fuzz_settings, hang_guard, tally
from mf_tokenizers import AutoTokenizer, GPT2Tokenizer, LlamaTokenizer, TokenizerError


@pytest.fixture(scope="module")
def bpe_folder(tmp_path_factory, pydocs_lines):
    """A small byte-level BPE: tokenizer.json, vocab.json and merges.txt (made by the tokenizers library)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    folder = tmp_path_factory.mktemp("bpe")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, show_progress=False, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(pydocs_lines[:200], trainer)
    tok.save(str(folder / "tokenizer.json"))
    tok.model.save(str(folder))
    return folder


def test_two_tokens_on_one_id_or_shifted_ids(bpe_folder, tmp_path):
    vocab = json.loads((bpe_folder / "vocab.json").read_text())
    merges = bpe_folder / "merges.txt"
    a, b = list(vocab)[10:12]
    (tmp_path / "vocab.json").write_text(json.dumps(dict(vocab, **{b: vocab[a]})))
    with pytest.raises(TokenizerError, match=f"vocab.json: vocab: tokens .* share id {vocab[a]}"):
        GPT2Tokenizer(tmp_path / "vocab.json", merges)
    (tmp_path / "vocab.json").write_text(json.dumps({t: i + 5 for t, i in vocab.items()}))
    with pytest.raises(TokenizerError, match=r"vocab ids run from 5 to \d+ over \d+ tokens; expected 0\.\."):
        GPT2Tokenizer(tmp_path / "vocab.json", merges)


def test_a_byte_level_vocab_has_every_byte(bpe_folder, tmp_path):
    vocab = json.loads((bpe_folder / "vocab.json").read_text())
    del vocab["<"]
    (tmp_path / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}))
    with pytest.raises(TokenizerError, match="lacks the byte-level characters of 1 of the 256 bytes"):
        GPT2Tokenizer(tmp_path / "vocab.json", bpe_folder / "merges.txt")


def test_tokenizer_json_ids_and_merges(bpe_folder, tmp_path):
    data = json.loads((bpe_folder / "tokenizer.json").read_text())
    for edit, message in [
        (lambda d: d["model"]["vocab"].update({"zz-new": 3}), "share id 3"),
        (lambda d: d["model"]["merges"].append(["q", "zzz-not-there"]), "does not join two vocabulary tokens"),
        (lambda d: d["added_tokens"].append({"id": 7, "content": "<x>"}), "added token '<x>' has id 7"),
    ]:
        bad = json.loads(json.dumps(data))
        edit(bad)
        (tmp_path / "tokenizer.json").write_text(json.dumps(bad))
        with pytest.raises(TokenizerError, match=message) as e:
            AutoTokenizer.from_pretrained(tmp_path)
        assert "\n" not in str(e.value) and "tokenizer.json" in str(e.value)


@pytest.mark.parametrize("key, value", [("model_max_length", "big"), ("padding_side", "middle"),
                                        ("add_bos_token", "yes"), ("chat_template", 3), ("eos_token", 7)])
def test_tokenizer_config_types(bpe_folder, tmp_path, key, value):
    (tmp_path / "tokenizer.json").write_bytes((bpe_folder / "tokenizer.json").read_bytes())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({key: value}))
    with pytest.raises(TokenizerError, match=f"tokenizer_config.json: {key}: .* is not") as e:
        AutoTokenizer.from_pretrained(tmp_path)
    assert "\n" not in str(e.value)


def flip(data, rng):
    out = bytearray(data)
    pos = rng.randrange(len(out))
    out[pos] ^= 1 << rng.randrange(8)
    return bytes(out)


def test_flipped_bytes_in_a_sentencepiece_model(sp_model, tmp_path, budget):
    """Each flip ends in a tokenizer or a TokenizerError; the share still accepted (flips inside a piece's text or
    score that keep it valid) is printed: no check short of a checksum catches those."""
    data = sp_model.read_bytes()
    rng = random.Random(15)
    accepted = 0
    cases = budget.fuzz // 2
    for _ in range(cases):
        path = tmp_path / "tokenizer.model"
        path.write_bytes(flip(data, rng))
        tally("fuzz")
        with hang_guard(budget.timeout):
            try:
                LlamaTokenizer(path).encode("hello world")
                accepted += 1
            except TokenizerError as e:
                assert "\n" not in str(e)
    tally("sp flips accepted", accepted)
    tally("sp flips", cases)
    print(f"SentencePiece model: {accepted} of {cases} single-bit flips still load")


FILES = ["tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json"]


@st.composite
def damaged_folder(draw, originals):
    name = draw(st.sampled_from(FILES))
    data = bytearray(originals[name])
    kind = draw(st.sampled_from(["flip", "cut", "insert", "json"]))
    pos = draw(st.integers(0, max(0, len(data) - 1)))
    if kind == "flip" and data:
        data[pos] = draw(st.integers(0, 255))
    elif kind == "cut":
        del data[pos:]
    elif kind == "insert":
        data[pos:pos] = draw(st.sampled_from([b'"', b"{", b"[", b"\\ud800", b"\x00", b"\xff", b" 99999999999",
                                              b"-1", b"null", b'"a b"\n', b"\n"]))
    else:
        value = draw(st.sampled_from([None, -1, 2**64, "x", [], {}, 1e999, True, "\ud800"]))
        key = draw(st.sampled_from(["model_max_length", "eos_token", "chat_template", "added_tokens", "model",
                                    "add_bos_token", "tokenizer_class", "bos_token"]))
        try:
            obj = json.loads(bytes(data)) if name.endswith(".json") else None
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            obj[key] = value
            data = bytearray(json.dumps(obj).encode("utf-8", "surrogatepass"))
    return name, bytes(data)


def test_fuzz_tokenizer_file_loaders(bpe_folder, tmp_path, budget):
    originals = {n: (bpe_folder / n).read_bytes() for n in FILES if (bpe_folder / n).exists()}
    originals["tokenizer_config.json"] = json.dumps({"model_max_length": 128, "eos_token": "<|endoftext|>"}).encode()

    @fuzz_settings(budget)
    @given(damaged_folder(originals), st.sampled_from(["auto", "gpt2"]))
    def prop(damage, loader):
        tally("fuzz")
        name, data = damage
        for n, content in originals.items():
            (tmp_path / n).write_bytes(data if n == name else content)
        with hang_guard(budget.timeout):
            try:
                if loader == "auto":
                    tok = AutoTokenizer.from_pretrained(tmp_path)
                else:
                    tok = GPT2Tokenizer(tmp_path / "vocab.json", tmp_path / "merges.txt")
                tok.decode(tok.encode("hello world <|endoftext|>"))
            except MFError as e:
                assert "\n" not in str(e)

    prop()
