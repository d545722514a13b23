"""save_pretrained publishes config.json and the weights together: killed at every step, on a full disk or racing
a second writer, the folder holds the old pair or the new one, and a re-run leaves nothing behind."""

import hashlib

from mf_config import faults
from mf_config.fileio import check_committed
from mf_config.reliability import tally


def read(path):
    files = check_committed(path)
    return None if files is None else {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_save_pretrained_publication(family_models, tmp_path):
    out = tmp_path / "out"
    old = lambda: family_models["gpt2"].save_pretrained(out)  # noqa: E731
    new = lambda: family_models["bloom"].save_pretrained(out)  # noqa: E731
    target = out / "model.safetensors"
    tally("faults", faults.exercise_writer(old, new, read, target, actions=("kill",)))
    tally("faults", faults.full_disk(old, new, read, target))
    tally("races", faults.race(new, target))
    assert sorted(p.name for p in out.iterdir()) == [".model.safetensors.commit", "config.json", "model.safetensors"]
