"""The publication discipline of mf_config.fileio: modes, replacement without a gap, refusals, locks, stale
temporaries, multi-file units, full disks."""

import errno
import os
import stat
import subprocess
import sys

import pytest

from mf_config import fsops
from mf_config.errors import NoSpaceError, OutputBusyError, OutputError, OutputExistsError
from mf_config.faults import leftovers, paused, run_forked
from mf_config.fileio import (
    atomic_dir,
    atomic_files,
    atomic_write,
    check_committed,
    check_not_input,
    clean_stale_in,
    no_space_errors,
    remove_output,
    temp_path,
)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def ops(monkeypatch):
    """The publication steps announced in this process."""
    seen = []
    monkeypatch.setattr(fsops, "HOOK", lambda op, path: seen.append((op, os.path.basename(path))))
    return seen


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_modes_follow_the_umask(tmp_path, umask_022):
    with atomic_write(tmp_path / "a.txt") as f:
        f.write("x")
    with open(tmp_path / "plain.txt", "w") as f:
        f.write("x")
    assert mode(tmp_path / "a.txt") == mode(tmp_path / "plain.txt") == 0o644
    with atomic_dir(tmp_path / "out") as d:
        (d / "f").write_text("x")
    (tmp_path / "plain").mkdir()
    assert mode(tmp_path / "out") == mode(tmp_path / "plain") == 0o755
    assert (tmp_path / "out" / "f").read_text() == "x"


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), atomic_write(tmp_path / "a.txt") as f:
        f.write("x")
        raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []


def test_file_is_flushed_then_renamed_then_the_folder_flushed(tmp_path, ops):
    with atomic_write(tmp_path / "a.txt") as f:
        f.write("x")
    assert [op for op, _ in ops] == ["fsync", "replace", "fsync"]
    assert ops[1][1] == "a.txt" and ops[2][1] == tmp_path.name


def test_a_folder_is_replaced_in_one_exchange(tmp_path, ops):
    with atomic_dir(tmp_path / "out") as d:
        (d / "old").write_text("1")
    ops.clear()
    with atomic_dir(tmp_path / "out") as d:
        (d / "new").write_text("2")
    assert "exchange" in [op for op, _ in ops]
    assert os.listdir(tmp_path / "out") == ["new"] and os.listdir(tmp_path) == ["out"]


def test_without_exchange_a_crash_between_the_renames_is_undone(tmp_path, monkeypatch):
    monkeypatch.setattr(fsops, "_EXCHANGE", None)
    out = tmp_path / "out"
    with atomic_dir(out) as d:
        (d / "old").write_text("1")

    def write():
        with atomic_dir(out) as d:
            (d / "new").write_text("2")

    steps = [op for op, _ in run_forked(write).ops]
    assert steps[2:4] == ["replace", "replace"]  # the old output aside, the new one in
    run = run_forked(write, "kill", 3)
    assert run.status == -9 and not out.exists()
    write()  # the next writer puts the old output back first, then replaces it
    assert os.listdir(out) == ["new"] and not leftovers(out)


def test_refuses_an_output_that_is_inside_or_contains_an_input(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "w.bin").write_bytes(b"x")
    for out, words in [(tmp_path / "in", "is the input"), (tmp_path / "in" / "sub", "lies inside"),
                       (tmp_path, "contains the input")]:
        with pytest.raises(OutputError, match=words):
            check_not_input(out, [tmp_path / "in"])
    os.link(tmp_path / "in" / "w.bin", tmp_path / "hard.bin")
    with pytest.raises(OutputError, match="is the input"):
        check_not_input(tmp_path / "hard.bin", [tmp_path / "in" / "w.bin"])
    with pytest.raises(OutputError, match="is the input"), atomic_write(tmp_path / "in" / "w.bin",
                                                                           inputs=[tmp_path / "in" / "w.bin"]):
        pass
    assert (tmp_path / "in" / "w.bin").read_bytes() == b"x"


def test_refuses_to_replace_another_kind(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="is a file; refusing"), atomic_dir(tmp_path / "notes.txt"):
        pass
    (tmp_path / "d").mkdir()
    with pytest.raises(OutputError, match="is a folder; refusing"), atomic_write(tmp_path / "d"):
        pass
    with pytest.raises(OutputExistsError), atomic_dir(tmp_path / "d", overwrite=False):
        pass
    assert (tmp_path / "notes.txt").read_text() == "mine" and sorted(os.listdir(tmp_path)) == ["d", "notes.txt"]


def test_a_second_writer_fails_at_once_naming_the_first(tmp_path):
    def write():
        with atomic_write(tmp_path / "a.txt") as f:
            f.write("x")

    with paused(write) as first:
        with pytest.raises(OutputBusyError, match=f"being written by pid {first} "):
            write()
    write()
    assert (tmp_path / "a.txt").read_text() == "x" and not leftovers(tmp_path / "a.txt")


def test_the_lock_is_reentrant(tmp_path):
    with atomic_dir(tmp_path / "out") as d, atomic_dir(tmp_path / "out"):
        (d / "f").write_text("x")


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    for name in (f".out.{dead}.0123abcd.tmp", f".out.{dead}.89abcdef.tmp.ckpt"):
        (tmp_path / name).mkdir()
    alive = tmp_path / f".out.{os.getppid()}.0123abcd.tmp"
    alive.mkdir()
    (tmp_path / ".outer.1.0123abcd.tmp").mkdir()  # another output's
    with atomic_dir(tmp_path / "out") as d:
        (d / "f").write_text("x")
    assert set(os.listdir(tmp_path)) == {".outer.1.0123abcd.tmp", alive.name, "out"}


def test_files_published_as_one_unit(tmp_path):
    out = tmp_path / "x.mindrecord"
    with atomic_files(out) as stage:
        for name in ("x.mindrecord0", "x.mindrecord0.db", "x.mindrecord1", "x.mindrecord1.db"):
            (stage / name).write_text(name)
    assert len(check_committed(tmp_path / "x.mindrecord1")) == 4
    with atomic_files(out) as stage:  # one split now: the old second split goes
        (stage / "x.mindrecord").write_text("data")
        (stage / "x.mindrecord.db").write_text("db")
    assert sorted(os.listdir(tmp_path)) == [".x.mindrecord.commit", "x.mindrecord", "x.mindrecord.db"]
    (tmp_path / "x.mindrecord.db").write_text("another run's db")
    with pytest.raises(OutputError, match="x.mindrecord.db: does not belong to the output x.mindrecord"):
        check_committed(out)
    (tmp_path / "x.mindrecord.db").unlink()
    with pytest.raises(OutputError, match="missing"):
        check_committed(out)


def test_a_publication_killed_after_its_commit_point_is_finished_by_the_reader(tmp_path):
    out = tmp_path / "x.mindrecord"

    def write(text):
        with atomic_files(out) as stage:
            (stage / "x.mindrecord").write_text(text)
            (stage / "x.mindrecord.db").write_text(text + " db")

    write("old")
    run = run_forked(lambda: write("new"), "kill", 6)  # 2 files + stage, marker: fsync, replace, fsync; then a rename
    assert run.status == -9 and run.ops[-1][0] == "replace" and run.ops[-2][0] == "fsync"
    assert (tmp_path / "x.mindrecord.db").read_text() == "old db"  # mixed on disk until someone reads it
    assert [p.read_text() for p in check_committed(out)] == ["new", "new db"]
    assert not leftovers(out)


def test_a_full_disk_is_one_line_with_sizes(tmp_path, monkeypatch):
    def no_space(op, path):
        if op == "fsync":
            raise OSError(errno.ENOSPC, "No space left on device", path)

    monkeypatch.setattr(fsops, "HOOK", no_space)
    with pytest.raises(NoSpaceError, match=r"^no space left writing .*out: more than 0.0 MB needed, [\d.]+ MB free$"):
        with atomic_dir(tmp_path / "out") as d:
            (d / "f").write_bytes(b"x" * 1000)
    assert os.listdir(tmp_path) == []
    monkeypatch.setattr(fsops, "HOOK", None)
    with pytest.raises(NoSpaceError, match=r"needed, [\d.]+ MB free"), atomic_write(tmp_path / "a", size=1 << 62):
        pass
    assert os.listdir(tmp_path) == []


def test_temp_names_are_recognised(tmp_path):
    name = temp_path(tmp_path / "model.ckpt", suffix=".ckpt").name
    assert name.startswith(".model.ckpt.") and name.endswith(".tmp.ckpt")


def dead_pid():
    return subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()


def test_a_folder_owner_cleans_what_dead_writers_left_of_any_output(tmp_path):
    dead = dead_pid()
    (tmp_path / f".ckpt-3.{dead}.0123abcd.tmp").mkdir()  # a half-written output
    (tmp_path / f".ckpt-1.{dead}.89abcdef.tmp").mkdir()  # a half-removed one
    (tmp_path / f".loss.png.{dead}.0123abcd.tmp").write_bytes(b"x")
    (tmp_path / ".ckpt-2.lock").write_text("")  # a killed writer's lock file
    alive = tmp_path / f".ckpt-4.{os.getppid()}.0123abcd.tmp"
    alive.mkdir()
    (tmp_path / "ckpt-2").mkdir()
    (tmp_path / ".hidden-notes").write_text("not a writer's")
    assert [p.name for p in clean_stale_in(tmp_path)] == ["ckpt-1", "ckpt-2", "ckpt-3", "ckpt-4", "loss.png"]
    assert set(os.listdir(tmp_path)) == {alive.name, "ckpt-2", ".hidden-notes"}
    assert clean_stale_in(tmp_path / "missing") == []


def test_an_output_held_by_a_live_writer_is_left_alone(tmp_path):
    def write():
        with atomic_dir(tmp_path / "out") as d:
            (d / "f").write_text("x")

    with paused(write):
        before = set(os.listdir(tmp_path))
        clean_stale_in(tmp_path)
        assert set(os.listdir(tmp_path)) == before and any(n.endswith(".tmp") for n in before)


def test_removing_an_output_renames_it_away_first(tmp_path, ops):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "f").write_text("x")
    remove_output(tmp_path / "old")
    remove_output(tmp_path / "old")  # already gone: nothing to do
    assert os.listdir(tmp_path) == [] and [op for op, _ in ops] == ["replace", "fsync", "remove"]
    (tmp_path / "old").mkdir()
    run = run_forked(lambda: remove_output(tmp_path / "old"), "kill", 1)  # renamed, not yet removed
    assert run.status == -9 and not (tmp_path / "old").exists() and leftovers(tmp_path / "old")
    clean_stale_in(tmp_path)
    assert os.listdir(tmp_path) == []


def test_a_full_disk_while_appending_is_one_line(tmp_path):
    with pytest.raises(NoSpaceError, match=r"^no space left writing .*metrics.jsonl: [\d.]+ MB free$"):
        with no_space_errors(tmp_path / "metrics.jsonl"):
            raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(PermissionError), no_space_errors(tmp_path / "metrics.jsonl"):
        raise PermissionError(errno.EACCES, "denied")
