"""mf-tokenizers' writers (encode/decode --output, convert --output) publish atomically: killed at every step, on
a full disk, or racing a second writer, the old output or the new one; an output never replaces an input."""

import pytest
from click.testing import CliRunner

from mf_config import faults
from mf_config.reliability import tally
from mf_tokenizers.cli import main


def writer(*args):
    return lambda: main.main(args=[str(a) for a in args], standalone_mode=False)


def read(path):
    if not path.exists():
        return None
    if path.is_dir():
        return {p.name: p.read_bytes() for p in sorted(path.iterdir())}
    return path.read_text()


def tiny_bpe(folder, text, size):
    """A small byte-level BPE tokenizer.json made by the tokenizers library (fast to convert)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    folder.mkdir()
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel()
    tok.train_from_iterator([text] * 10, trainers.BpeTrainer(vocab_size=size, show_progress=False))
    tok.save(str(folder / "tokenizer.json"))
    return folder


@pytest.fixture()
def cases(tmp_path, sp_model, pydocs_lines):
    src_a, src_b = tmp_path / "a.txt", tmp_path / "b.txt"
    src_a.write_text("\n".join(pydocs_lines[:50]) + "\n")
    src_b.write_text("\n".join(pydocs_lines[50:80]) + "\n")
    bpe_a = tiny_bpe(tmp_path / "bpe_a", " ".join(pydocs_lines[:20]), 300)
    bpe_b = tiny_bpe(tmp_path / "bpe_b", " ".join(pydocs_lines[20:40]), 320)
    ids, folder = tmp_path / "out" / "ids.txt", tmp_path / "out" / "fast"
    return {
        "encode": (writer("encode", "--tokenizer", sp_model, "--input", src_a, "--output", ids),
                   writer("encode", "--tokenizer", sp_model, "--input", src_b, "--output", ids), ids),
        "convert": (writer("convert", "--tokenizer", bpe_a, "--output", folder),
                    writer("convert", "--tokenizer", bpe_b, "--output", folder), folder),
    }


@pytest.mark.parametrize("case", ["encode", "convert"])
def test_killed_at_every_publication_step(cases, budget, case):
    old, new, out = cases[case]
    actions = ("kill", "term") if budget.long else ("kill",)
    tally("faults", faults.exercise_writer(old, new, read, out, actions=actions))


@pytest.mark.parametrize("case", ["encode", "convert"])
def test_full_disk_and_two_writers(cases, case):
    old, new, out = cases[case]
    tally("faults", faults.full_disk(old, new, read, out))
    tally("races", faults.race(new, out))


def test_encode_over_its_own_input_is_refused(tmp_path, sp_model):
    src = tmp_path / "in.txt"
    src.write_text("hello\n")
    result = CliRunner().invoke(main, ["encode", "--tokenizer", str(sp_model), "--input", str(src), "--output",
                                       str(src)])
    assert result.exit_code == 2 and "is the input" in result.stderr and src.read_text() == "hello\n"
