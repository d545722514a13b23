"""atomic_write/atomic_dir leave files and folders with the modes a plain open/mkdir gives (umask applied)."""

import os
import stat

import pytest

from mf_config.fileio import atomic_dir, atomic_write


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


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
