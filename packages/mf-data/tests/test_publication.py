"""Every mf-data writer publishes atomically: killed (or terminated) at each publication step, on a full disk, or
racing a second writer, it leaves the old dataset or the new one, complete; a re-run succeeds and leaves nothing
behind. MindRecord's data and .db files are one unit: another run's .db beside the data is refused, never read."""

import contextlib
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys

import pytest

from mf_config import faults
from mf_config.errors import OutputError
from mf_config.fileio import check_committed
from mf_config.reliability import tally
from mf_data.cli import main

from .helpers import cli, read_indexed, read_mindrecord


def writer(*args):
    return lambda: main.main(args=[str(a) for a in args], standalone_mode=False)


@pytest.fixture(scope="module")
def alpaca_20(tmp_path_factory, alpaca_records):
    import mindspore  # noqa: F401 - imported once here, not in each forked writer

    path = tmp_path_factory.mktemp("alpaca") / "a.json"
    path.write_text(json.dumps(alpaca_records[:20]), encoding="utf-8")
    return path


def preprocess_writer(src, sp_model, out, fmt, seq, splits=1):
    return writer("preprocess", "--no_progress", "--dataset_type", "alpaca", "--input_glob", src, "--tokenizer",
                  sp_model, "--seq_length", seq, "--format", fmt, "--output_file", out, "--num_splits", splits)


def records_forked(path):
    """The sorted digests of the records MindSpore reads from ``path``, read in a forked child (MindSpore's
    dataset threads must not run in this process, which forks writers)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            rows = read_mindrecord(path, ["input_ids", "labels"])
            out = sorted(hashlib.sha256(x["input_ids"].tobytes() + x["labels"].tobytes()).hexdigest() for x in rows)
            os.write(w, json.dumps(out).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    return json.loads(data)


def read_output(path):
    """What a reader sees: None when absent; MindRecord: the records of the committed files (checked against the
    commit marker, an interrupted publication finished); the indexed dataset's records; the JSON."""
    committed = check_committed(path)
    if committed is not None:
        return records_forked(min(committed, key=lambda p: p.name))
    if not path.exists():
        return None
    if path.is_dir():
        return [{c: r[c].tobytes() for c in sorted(r)} for r in read_indexed(path)]
    return json.loads(path.read_text(encoding="utf-8"))


def cases(src, sp_model, out_dir):
    mr, idx, conv = out_dir / "x.mindrecord", out_dir / "x", out_dir / "c.json"
    return {
        "mindrecord": (preprocess_writer(src, sp_model, mr, "mindrecord", 512),
                       preprocess_writer(src, sp_model, mr, "mindrecord", 256), mr),
        "mindrecord splits": (preprocess_writer(src, sp_model, mr, "mindrecord", 512, 2),
                              preprocess_writer(src, sp_model, mr, "mindrecord", 256, 3), mr),
        "indexed": (preprocess_writer(src, sp_model, idx, "indexed", 512),
                    preprocess_writer(src, sp_model, idx, "indexed", 256), idx),
        "alpaca-to-conversation": (writer("alpaca-to-conversation", "--data_path", src, "--output_path", conv),
                                   writer("alpaca-to-conversation", "--data_path", SMALLER, "--output_path", conv),
                                   conv),
    }


SMALLER = None


@pytest.fixture(scope="module", autouse=True)
def smaller(tmp_path_factory, alpaca_records):
    global SMALLER
    SMALLER = tmp_path_factory.mktemp("alpaca5") / "a5.json"
    SMALLER.write_text(json.dumps(alpaca_records[:5]), encoding="utf-8")


CASES = ["mindrecord", "mindrecord splits", "indexed", "alpaca-to-conversation"]


@pytest.mark.parametrize("case", CASES)
def test_killed_at_every_publication_step(tmp_path, alpaca_20, sp_model, budget, case):
    old, new, out = cases(alpaca_20, sp_model, tmp_path / "out")[case]
    actions = ("kill", "term") if budget.long else ("kill",)
    tally("faults", faults.exercise_writer(old, new, read_output, out, actions=actions))


@pytest.mark.parametrize("case", CASES)
def test_full_disk_injected(tmp_path, alpaca_20, sp_model, case):
    old, new, out = cases(alpaca_20, sp_model, tmp_path / "out")[case]
    tally("faults", faults.full_disk(old, new, read_output, out))


@pytest.mark.parametrize("case", CASES)
def test_two_writers(tmp_path, alpaca_20, sp_model, case):
    _, new, out = cases(alpaca_20, sp_model, tmp_path / "out")[case]
    tally("races", faults.race(new, out))


@contextlib.contextmanager
def small_tmpfs(path, size):
    """A tmpfs of ``size`` at ``path``, or None where this user cannot mount one."""
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    try:
        yield path if done.returncode == 0 else None
    finally:
        if done.returncode == 0:
            subprocess.run(["umount", str(path)], check=True)


@pytest.mark.parametrize("fmt", ["mindrecord", "indexed"])
def test_a_real_full_disk(tmp_path, mf_assets, sp_model, alpaca_20, fmt):
    """A 256 KiB tmpfs fills up (where this user may mount one; elsewhere the injected ENOSPC runs)."""
    with small_tmpfs(tmp_path / "small", "256k") as disk:
        if disk is None:
            old, new, out = cases(alpaca_20, sp_model, tmp_path / "out")[fmt]
            tally("faults", faults.full_disk(old, new, read_output, out))
            return
        out = disk / ("wiki.mindrecord" if fmt == "mindrecord" else "wiki")
        result = cli("preprocess", "--no_progress", "--dataset_type", "wiki", "--input_glob",
                     mf_assets / "text" / "wiki.train.tokens", "--tokenizer", sp_model, "--seq_length", 64,
                     "--format", fmt, "--output_file", out)
        assert result.exit_code == 2, result.output
        assert result.output.startswith(f"Error: no space left writing {out}: ") and "MB free" in result.output
        assert result.output.count("\n") == 1 and list(disk.iterdir()) == []
        tally("faults")


def test_random_kills_and_terms(tmp_path, alpaca_20, sp_model, budget):
    old, new, out = cases(alpaca_20, sp_model, tmp_path / "out")["mindrecord splits"]
    assert faults.run_forked(new).status == 0
    new_seen = read_output(out)
    assert faults.run_forked(old).status == 0
    old_seen = read_output(out)
    argv = [sys.executable, "-c", "from mf_data.cli import main; main()", "preprocess", "--no_progress",
            "--dataset_type", "alpaca", "--input_glob", str(alpaca_20), "--tokenizer", str(sp_model), "--seq_length",
            "256", "--format", "mindrecord", "--output_file", str(out), "--num_splits", "3"]
    rng = random.Random(15)
    tally("kills", faults.random_kills(argv, read_output, out, (old_seen, new_seen), budget.kills, rng))
    assert faults.run_forked(new).status == 0
    assert read_output(out) == new_seen and not faults.leftovers(out)


def test_another_runs_db_is_refused_not_read(tmp_path, alpaca_20, sp_model):
    a, b = tmp_path / "a" / "x.mindrecord", tmp_path / "b" / "x.mindrecord"
    assert faults.run_forked(preprocess_writer(alpaca_20, sp_model, a, "mindrecord", 512)).status == 0
    assert faults.run_forked(preprocess_writer(alpaca_20, sp_model, b, "mindrecord", 256)).status == 0
    shutil.copyfile(b.with_name("x.mindrecord.db"), a.with_name("x.mindrecord.db"))
    result = cli("inspect", a)
    assert result.exit_code == 2 and "x.mindrecord.db: does not belong to the output x.mindrecord" in result.output
    with pytest.raises(OutputError):
        check_committed(a)


def test_output_equal_to_an_input_is_refused(tmp_path, alpaca_20, sp_model):
    src = tmp_path / "a.json"
    shutil.copyfile(alpaca_20, src)
    before = src.read_bytes()
    result = cli("preprocess", "--no_progress", "--dataset_type", "alpaca", "--input_glob", src, "--tokenizer",
                 sp_model, "--seq_length", 32, "--format", "indexed", "--output_file", src)
    assert result.exit_code == 2 and "is the input" in result.output
    result = cli("alpaca-to-conversation", "--data_path", src, "--output_path", src)
    assert result.exit_code == 2 and "is the input" in result.output
    result = cli("preprocess", "--no_progress", "--dataset_type", "alpaca", "--input_glob", src, "--tokenizer",
                 sp_model, "--seq_length", 32, "--format", "mindrecord", "--output_file", tmp_path)
    assert result.exit_code == 2 and "contains the input" in result.output
    assert src.read_bytes() == before
