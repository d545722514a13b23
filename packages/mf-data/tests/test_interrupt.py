"""A preprocess killed midway leaves nothing under the final name; running it again succeeds."""

import signal
import subprocess
import sys
import time

import pytest

from mf_config.faults import leftovers

from .helpers import preprocess, read_indexed, read_mindrecord


def _kill_midway(args, tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "from mf_data.cli import main; main()", "preprocess",
                             "--no_progress", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        written = [p for p in tmp_path.glob(".*.tmp/*") if p.stat().st_size > 0]
        if written:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be interrupted"


@pytest.mark.slow
@pytest.mark.parametrize("fmt, name", [("indexed", "wiki"), ("mindrecord", "wiki.mindrecord")])
def test_killed_preprocess_leaves_no_output(tmp_path, mf_assets, sp_model, fmt, name):
    src = tmp_path / "wiki.tokens"
    src.write_bytes((mf_assets / "text" / "wiki.train.tokens").read_bytes())
    args = ["--dataset_type", "wiki", "--input_glob", src, "--tokenizer", sp_model, "--seq_length", 64,
            "--format", fmt, "--output_file", tmp_path / "out" / name]
    (tmp_path / "out").mkdir()
    _kill_midway(args, tmp_path / "out")
    assert not (tmp_path / "out" / name).exists()
    assert not any(p.name.startswith(name) for p in (tmp_path / "out").iterdir())
    lock = f".{name}.lock"  # the killed writer could not remove it; the kernel released it, the next run removes it
    if fmt == "mindrecord":  # its writer process sees the parent gone and removes its temporary folder
        deadline = time.monotonic() + 60
        while {p.name for p in (tmp_path / "out").iterdir()} - {lock} and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not {p.name for p in (tmp_path / "out").iterdir()} - {lock}
    preprocess(*args)
    assert not leftovers(tmp_path / "out" / name)
    rows = read_indexed(tmp_path / "out" / name) if fmt == "indexed" else \
        read_mindrecord(tmp_path / "out" / name, ["input_ids"])
    assert len(rows) > 10000
