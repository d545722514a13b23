"""wiki: WikiText raw tokens cleaned as the GPT-2 script does, articles joined with EOS, packed into blocks."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mf_data.textio import BadCounter, read_lines
from mf_data.wiki import articles, clean_lines, wikitext_clean

from .helpers import cli, preprocess, read_indexed, read_mindrecord, same_rows

SEQ = 128


def test_clean_real_lines():
    assert wikitext_clean("the reporting @-@ bugs page , the 1 @,@ 000 @.@ 5 users") == \
        "the reporting-bugs page, the 1,000.5 users"
    assert wikitext_clean("Fred L . Drake , Jr . , the creator ( of the toolset ) ; done") == \
        "Fred L. Drake, Jr., the creator (of the toolset); done"
    assert wikitext_clean("the user 's guide") == "the user's guide"


def test_lines_cleaned_together_equal_each_cleaned_alone(mf_assets):
    """The one-pass cleaning of an article's lines gives each line what the script's per-line call gives."""
    raw = (mf_assets / "text" / "wiki.train.tokens").read_text(encoding="utf-8").split("\n")
    lines = [line.strip() for line in raw if line.strip()]
    assert clean_lines(lines) == [wikitext_clean(line) for line in lines]
    assert clean_lines([]) == []
    odd = ["a ( b", "c ) d", "e \" f", 'g " h', "s ' x", " @-@ ", "with\nnewline ( x )"]  # pairs split over lines
    assert clean_lines(odd) == [wikitext_clean(line) for line in odd]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=" \n\t\u2028\x85()[]{}\"'s.:;!?,@-=N/0x\u00b0", max_size=24), max_size=8))
def test_lines_cleaned_together_on_fuzzed_lines(lines):
    assert clean_lines(lines) == [wikitext_clean(line) for line in lines]


def test_articles_of_real_file(wiki_small):
    raw = wiki_small.read_text(encoding="utf-8").splitlines()
    texts = list(articles(read_lines(wiki_small, BadCounter(False))))
    # articles: ` = Title = ` lines followed by some text before the next title
    starts = [i for i, ln in enumerate(raw) if ln.startswith(" = ") and not ln.startswith(" = = ")] + [len(raw)]
    with_text = [a for a, b in zip(starts, starts[1:])
                 if any(ln.strip() and not ln.startswith(" = ") for ln in raw[a + 1:b])]
    assert len(texts) == len(with_text) > 30
    body = "\n".join(texts)
    for token in (" @-@ ", " @,@ ", " @.@ "):
        assert token not in body
    assert all(t.strip() == t and t for t in texts)
    # every non-heading line's words survive, in order
    first = next(ln for ln in raw[1:] if ln.strip() and not ln.strip().startswith("="))
    assert texts[0].startswith(wikitext_clean(first.strip()))


@pytest.fixture(scope="module")
def wiki_out(tmp_path_factory, wiki_small, sp_model):
    root = tmp_path_factory.mktemp("wiki_out")
    common = ["--dataset_type", "wiki", "--input_glob", wiki_small, "--tokenizer", sp_model, "--seq_length", SEQ,
              "--data_columns", "input_ids,attention_mask,labels"]
    line = preprocess(*common, "--format", "indexed", "--output_file", root / "wiki")
    preprocess(*common, "--format", "mindrecord", "--output_file", root / "wiki.mindrecord")
    preprocess(*common, "--format", "mindrecord", "--output_file", root / "split" / "wiki.mindrecord",
               "--num_splits", 2)
    return root, line


def test_blocks_equal_sentencepiece(wiki_out, wiki_small, sp):
    root, line = wiki_out
    stream = []
    for text in articles(read_lines(wiki_small, BadCounter(False))):
        stream += [1] + sp.encode(text) + [2]
    n = len(stream) // (SEQ + 1)
    rows = read_indexed(root / "wiki")
    assert len(rows) == n
    assert np.concatenate([r["input_ids"] for r in rows]).tolist() == stream[:n * (SEQ + 1)]
    for r in rows:
        assert np.array_equal(r["labels"], r["input_ids"]) and (r["attention_mask"] == 1).all()
    assert line.startswith(f"{n} records, {n * (SEQ + 1)} tokens, 0 truncated, 0 dropped, 0 bad skipped, "
                           f"{len(stream) - n * (SEQ + 1)} leftover tokens")


def test_mindrecord_equals_indexed(wiki_out):
    root, _ = wiki_out
    columns = ["input_ids", "attention_mask", "labels"]
    indexed = read_indexed(root / "wiki")
    assert same_rows(read_mindrecord(root / "wiki.mindrecord", columns), indexed)
    split = sorted((root / "split").iterdir())
    assert [p.name for p in split] == [".wiki.mindrecord.commit", "wiki.mindrecord0", "wiki.mindrecord0.db",
                                       "wiki.mindrecord1", "wiki.mindrecord1.db"]  # published as one unit
    # MindSpore reads a shard set from any one of its files; the shards hold every record once
    shards = read_mindrecord(root / "split" / "wiki.mindrecord0", columns)
    key = [r["input_ids"].tobytes() for r in shards]
    assert sorted(key) == sorted(r["input_ids"].tobytes() for r in indexed)


def test_exact_length(tmp_path, wiki_small, sp_model):
    preprocess("--dataset_type", "wiki", "--input_glob", wiki_small, "--tokenizer", sp_model, "--seq_length", SEQ,
               "--format", "indexed", "--output_file", tmp_path / "w", "--exact_length")
    rows = read_indexed(tmp_path / "w")
    assert {r["input_ids"].shape for r in rows} == {(SEQ,)}
    # MindFormers' scripts' spellings: --input_file, --model_file (llama_preprocess.py, with --tokenizer llama as
    # a name), --max_length (the GPT-2 script's records of exactly max_length tokens); wiki is the default type
    preprocess("--input_file", wiki_small, "--tokenizer", "llama", "--model_file", sp_model, "--max_length", SEQ,
               "--format", "indexed", "--output_file", tmp_path / "m")
    assert same_rows(read_indexed(tmp_path / "m"), rows)
    result = cli("preprocess", "--input_file", wiki_small, "--model_file", sp_model, "--max_length", SEQ,
                 "--seq_length", SEQ, "--output_file", tmp_path / "x")
    assert result.exit_code == 2 and "give one of --seq_length" in result.output
    result = cli("preprocess", "--input_file", wiki_small, "--max_length", SEQ, "--output_file", tmp_path / "x")
    assert result.exit_code == 2 and "tokenizer: missing: give --tokenizer PATH (or --model_file PATH)" in result.output
