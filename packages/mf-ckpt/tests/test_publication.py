"""Every mf-ckpt writer publishes atomically: killed (or terminated) at each of its publication steps, failing on a
full disk, or racing a second writer, it leaves the old output or the new one, complete and verified; a re-run
succeeds and leaves nothing behind. Also: an output never replaces an input or a file of another kind."""

import hashlib
import random
import sys

import pytest
import safetensors.torch
import torch

from mf_ckpt.cli import main
from mf_ckpt.manifest import verify
from mf_config import faults
from mf_config.reliability import tally


def writer(*args):
    """``mf-ckpt ARGS`` as a function for a forked child (its exit code)."""
    return lambda: main.main(args=[str(a) for a in args], standalone_mode=False)


def contents(path):
    """What a reader sees at ``path`` (verified first): {file name: SHA-256}, or None when nothing is there."""
    if not path.exists():
        return None
    names = verify(path)
    folder = path if path.is_dir() else path.parent
    return {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in names}


@pytest.fixture(scope="module")
def src(tmp_path_factory, state):
    import mindspore  # noqa: F401 - once here, not in each forked writer of a .ckpt

    folder = tmp_path_factory.mktemp("src")
    safetensors.torch.save_file(state, folder / "model.safetensors")
    (folder / "config.json").write_text('{"type": "LlamaConfig"}')
    return folder


@pytest.fixture(scope="module")
def hf_llama(hf):
    return hf["llama_gqa"][0]


def _cases(src, hf_llama, out_dir):
    """name -> (old writer, new writer, output path) for each kind of mf-ckpt output."""
    folder, file, ckpt = out_dir / "folder", out_dir / "m.safetensors", out_dir / "m.ckpt"
    return {
        "cast to a folder": (writer("cast", src, folder, "--dtype", "fp16"),
                             writer("cast", src, folder, "--dtype", "bf16"), folder),
        "cast to a file": (writer("cast", src, file, "--dtype", "fp16"),
                           writer("cast", src, file, "--dtype", "bf16"), file),
        "strip-optimizer to a .ckpt": (writer("cast", src / "model.safetensors", ckpt, "--dtype", "fp32"),
                                       writer("strip-optimizer", src / "model.safetensors", ckpt), ckpt),
        "convert": (writer("convert", "--input_path", hf_llama, "--output_path", folder),
                    writer("convert", "--input_path", hf_llama, "--output_path", folder, "--dtype", "bf16"), folder),
        "split": (writer("split", "--src_ckpt", src, "--dst_strategy", STRATEGY, "--dst_ckpt_dir", folder),
                  writer("split", "--src_ckpt", src, "--dst_strategy", STRATEGY, "--dst_ckpt_dir", folder,
                         "--prefix", "shard_"), folder),
    }


STRATEGY = None


@pytest.fixture(scope="module", autouse=True)
def strategy(tmp_path_factory):
    global STRATEGY
    path = tmp_path_factory.mktemp("strategy") / "layout.json"
    path.write_text('{"model_parallel": 2, "params": {"model.w": {"split_dim": 0}}}')
    STRATEGY = path


CASE_NAMES = ["cast to a folder", "cast to a file", "strip-optimizer to a .ckpt", "convert", "split"]


def _read(path):
    if path.name != "folder" or not path.is_dir() or not any(p.name.startswith("rank_") for p in path.iterdir()):
        return contents(path)
    return {p.name: contents(p) for p in sorted(path.iterdir())}


@pytest.mark.parametrize("case", CASE_NAMES)
def test_killed_at_every_publication_step(tmp_path, src, hf_llama, budget, case):
    old, new, out = _cases(src, hf_llama, tmp_path / "out")[case]
    actions = ("kill", "term") if budget.long else ("kill",)
    tally("faults", faults.exercise_writer(old, new, _read, out, actions=actions))


@pytest.mark.parametrize("case", ["cast to a folder", "cast to a file", "convert"])
def test_full_disk(tmp_path, src, hf_llama, case):
    old, new, out = _cases(src, hf_llama, tmp_path / "out")[case]
    tally("faults", faults.full_disk(old, new, _read, out))


@pytest.mark.parametrize("case", CASE_NAMES)
def test_two_writers(tmp_path, src, hf_llama, case):
    _, new, out = _cases(src, hf_llama, tmp_path / "out")[case]
    tally("races", faults.race(new, out))


def test_random_kills_and_terms(tmp_path, src, budget):
    out = tmp_path / "out" / "folder"
    argv = lambda dtype: [sys.executable, "-c", "from mf_ckpt.cli import main; main()", "cast", str(src),  # noqa: E731
                          str(out), "--dtype", dtype]
    faults.run_forked(writer("cast", src, out, "--dtype", "fp16"))
    old = contents(out)
    faults.run_forked(writer("cast", src, out, "--dtype", "bf16"))
    new = contents(out)
    faults.run_forked(writer("cast", src, out, "--dtype", "fp16"))
    rng = random.Random(15)
    tally("kills", faults.random_kills(argv("bf16"), contents, out, (old, new), budget.kills, rng))
    assert faults.run_forked(writer("cast", src, out, "--dtype", "bf16")).status == 0
    assert contents(out) == new and not faults.leftovers(out)


def test_convert_refuses_to_replace_its_input(tmp_path, hf, cli):
    folder = hf["llama_gqa"][0]
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    result = cli("convert", "--input_path", folder, "--output_path", folder)
    assert result.exit_code == 2 and "is the input" in result.output
    result = cli("convert", "--input_path", folder, "--output_path", folder / "ours")
    assert result.exit_code == 2 and "lies inside the input folder" in result.output
    result = cli("convert", "--input_path", folder, "--output_path", folder.parent)
    assert result.exit_code == 2 and "contains the input" in result.output
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_an_output_never_replaces_a_file_of_another_kind(tmp_path, hf, cli, src):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    result = cli("convert", "--input_path", hf["llama_gqa"][0], "--output_path", notes)
    assert result.exit_code == 2 and "notes.txt: is a file; refusing to replace it with a folder" in result.output
    (tmp_path / "w.safetensors").mkdir()
    result = cli("cast", src, tmp_path / "w.safetensors", "--dtype", "fp16")
    assert result.exit_code == 2 and "is a folder; refusing to replace it with a file" in result.output
    assert notes.read_text() == "my notes" and not any((tmp_path / "w.safetensors").iterdir())


def test_cast_over_its_own_input_file_is_refused(tmp_path, cli, state):
    path = tmp_path / "a.safetensors"
    safetensors.torch.save_file(state, path)
    before = path.read_bytes()
    result = cli("cast", path, path, "--dtype", "fp16")
    assert result.exit_code == 2 and "is the input" in result.output and path.read_bytes() == before


def test_a_file_output_pairs_with_its_own_manifest(tmp_path, cli, state):
    """cast over an existing file: the new file and the new manifest appear together (the commit marker)."""
    path = tmp_path / "in.safetensors"
    safetensors.torch.save_file(state, path)
    out = tmp_path / "out" / "m.safetensors"
    for dtype in ("fp16", "bf16", "fp32"):
        assert cli("cast", path, out, "--dtype", dtype).exit_code == 0
        assert cli("verify", out).exit_code == 0
    loaded = safetensors.torch.load_file(out)
    assert torch.equal(loaded["model.w"], state["model.w"])
