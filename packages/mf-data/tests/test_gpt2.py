"""A byte-level BPE tokenizer (GPT-2 ranks): compared with tiktoken itself."""

import base64

import pytest
import tiktoken

from mf_data.preprocessing import preprocess as run
from mf_data.textio import BadCounter, read_lines
from mf_data.wiki import articles
from mf_tokenizers import AutoTokenizer

from .helpers import cli, preprocess, read_indexed, vicuna_prompt

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


@pytest.fixture(scope="module")
def gpt2_path(mf_assets):
    return mf_assets / "tokenizers" / "gpt2.tiktoken"


@pytest.fixture(scope="module")
def enc(gpt2_path):
    ranks = {base64.b64decode(tok): int(rank) for tok, rank in
             (line.split() for line in gpt2_path.read_text().splitlines() if line)}
    return tiktoken.Encoding("gpt2", pat_str=GPT2_PATTERN, mergeable_ranks=ranks,
                             special_tokens={"<|endoftext|>": 50256})


def test_wiki_blocks_equal_tiktoken(tmp_path, wiki_small, gpt2_path, enc):
    preprocess("--dataset_type", "wiki", "--input_glob", wiki_small, "--tokenizer", gpt2_path, "--seq_length", 64,
               "--format", "indexed", "--output_file", tmp_path / "w", "--exact_length")
    stream = []
    for text in articles(read_lines(wiki_small, BadCounter(False))):
        stream += enc.encode_ordinary(text) + [50256]
    rows = read_indexed(tmp_path / "w")
    assert len(rows) == len(stream) // 64
    assert [t for r in rows for t in r["input_ids"].tolist()] == stream[:len(rows) * 64]


def test_gpt2_has_no_pad_for_answers(tmp_path, alpaca_small, gpt2_path):
    args = ["preprocess", "--dataset_type", "alpaca", "--input_glob", alpaca_small, "--tokenizer", gpt2_path,
            "--seq_length", 256, "--format", "indexed", "--output_file", tmp_path / "o"]
    assert "the tokenizer has no pad token" in cli(*args).output
    assert "pad_token_id 50256 equals eos_token_id" in cli(*args, "--pad_token_id", 50256).output


def test_alpaca_with_added_pad_token(tmp_path, alpaca_small, gpt2_path, enc, alpaca_records):
    tok = AutoTokenizer.from_pretrained(str(gpt2_path))
    tok.add_special_tokens({"pad_token": "<|pad|>"})
    summary = run("alpaca", alpaca_small, tok, 256, tmp_path / "o", fmt="indexed", workers=2, progress=False)
    rows = read_indexed(tmp_path / "o")
    assert summary.records == len(rows) > 300
    for row, record in zip(rows[:50], alpaca_records):
        prompt = enc.encode_ordinary(vicuna_prompt(record))
        ids = [50256] + enc.encode_ordinary(vicuna_prompt(record) + " " + record["output"]) + [50256]
        ids = ids[:257]
        assert row["input_ids"][:len(ids)].tolist() == ids
        assert (row["input_ids"][len(ids):] == 50257).all()
        assert row["labels"][:len(ids)].tolist() == [-100] * (1 + len(prompt)) + ids[1 + len(prompt):]
