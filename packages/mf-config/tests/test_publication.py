"""mf-config's writers (a resolved config's YAML, config.json) and the three publication forms, killed at every
step, on a full disk and racing a second writer: the old output or the new one, a clean re-run."""

import random
import sys

import pytest

from mf_config import LlamaConfig, faults, load_config
from mf_config.fileio import atomic_dir, atomic_files, check_committed
from mf_config.reliability import tally


def read_text(path):
    return path.read_text() if path.exists() else None


def read_folder(path):
    return {p.name: p.read_text() for p in sorted(path.iterdir())} if path.exists() else None


def read_unit(path):
    files = check_committed(path)
    return None if files is None else {p.name: p.read_text() for p in files}


def dump(yaml_dir, out, layers):
    return lambda: load_config(yaml_dir / "run_gpt2.yaml", [f"model.model_config.num_layers={layers}"]).dump(out)


def save_pretrained(out, layers):
    return lambda: LlamaConfig(num_layers=layers, hidden_size=64, num_heads=4, vocab_size=100).save_pretrained(out)


def folder(out, n):
    def write():
        with atomic_dir(out) as tmp:
            for i in range(n):
                (tmp / f"f{i}").write_text(str(n))
    return write


def unit(out, n):
    def write():
        with atomic_files(out) as stage:
            for i in range(n):
                (stage / f"{out.name}{i}").write_text(str(n))
                (stage / f"{out.name}{i}.db").write_text(str(n))
    return write


def cases(yaml_dir, tmp):
    return {
        "MFConfig.dump": (dump(yaml_dir, tmp / "c.yaml", 2), dump(yaml_dir, tmp / "c.yaml", 3), tmp / "c.yaml",
                          read_text),
        "save_pretrained": (save_pretrained(tmp, 2), save_pretrained(tmp, 3), tmp / "config.json", read_text),
        "atomic_dir": (folder(tmp / "d", 3), folder(tmp / "d", 2), tmp / "d", read_folder),
        "atomic_files": (unit(tmp / "x.mindrecord", 3), unit(tmp / "x.mindrecord", 2), tmp / "x.mindrecord",
                         read_unit),
    }


CASES = ["MFConfig.dump", "save_pretrained", "atomic_dir", "atomic_files"]


@pytest.mark.parametrize("case", CASES)
def test_killed_at_every_publication_step(tmp_path, yaml_dir, budget, case):
    old, new, out, read = cases(yaml_dir, tmp_path / "out")[case]
    tally("faults", faults.exercise_writer(old, new, read, out, actions=("kill", "term")))


@pytest.mark.parametrize("case", CASES)
def test_full_disk(tmp_path, yaml_dir, case):
    old, new, out, read = cases(yaml_dir, tmp_path / "out")[case]
    tally("faults", faults.full_disk(old, new, read, out))


@pytest.mark.parametrize("case", CASES)
def test_two_writers(tmp_path, yaml_dir, case):
    _, new, out, _ = cases(yaml_dir, tmp_path / "out")[case]
    tally("races", faults.race(new, out))


def test_random_kills(tmp_path, budget):
    out = tmp_path / "out" / "x.mindrecord"
    code = ("import sys, time\nfrom pathlib import Path\nfrom mf_config.cli_support import terminate_cleanly\n"
            "from mf_config.fileio import atomic_files\nout = Path(sys.argv[1])\nwith terminate_cleanly():\n"
            "    with atomic_files(out) as stage:\n        for i in range(3):\n"
            "            (stage / f'x.mindrecord{i}').write_text(sys.argv[2] * 100000)\n            time.sleep(0.05)\n")
    argv = [sys.executable, "-c", code, str(out)]
    faults.run_forked(unit(out, 3))
    import subprocess

    subprocess.run([*argv, "a"], check=True)
    old = read_unit(out)
    states = (old, {f"x.mindrecord{i}": "b" * 100000 for i in range(3)})
    rng = random.Random(15)
    tally("kills", faults.random_kills([*argv, "b"], read_unit, out, states, budget.kills, rng))
    subprocess.run([*argv, "b"], check=True)
    assert read_unit(out) == states[1] and not faults.leftovers(out)
