"""Streaming: the peak resident memory of a rewrite stays near one tensor, not the checkpoint's size."""

import subprocess
import sys

import numpy as np
import pytest

from mf_ckpt.output import Spec, save_file

PEAK = ("import atexit, sys; atexit.register(lambda: print(open('/proc/self/status').read(), file=sys.stderr))\n"
        "from mf_ckpt.cli import main; main()")
MB = 1 << 20


def peak_rss(*args):
    proc = subprocess.run([sys.executable, "-c", PEAK, *map(str, args)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return int(next(line.split()[1] for line in proc.stderr.splitlines() if line.startswith("VmHWM:"))) * 1024


@pytest.mark.slow
def test_peak_memory_is_one_tensor_not_the_model(tmp_path):
    tensors = 6
    shape = (2048, 4096)  # 32 MB of float32 each, 192 MB in all
    save_file(tmp_path / "big.safetensors",
              [Spec(f"w{i}", "F32", shape, lambda i=i: [np.full(shape, i + 0.5, np.float32)]) for i in range(tensors)],
              lambda n: None)
    base = peak_rss("--version")
    # a cast holds one source tensor and its cast at a time
    extra = peak_rss("cast", tmp_path / "big.safetensors", tmp_path / "bf16", "--dtype", "bf16") - base
    assert extra < 32 * MB + 16 * MB + 16 * MB, extra / MB
    # tensors kept as they are are copied by the kernel and hashed through a 16 MB buffer: less than one tensor
    extra = peak_rss("strip-optimizer", tmp_path / "big.safetensors", tmp_path / "same.safetensors") - base
    assert extra < 24 * MB, extra / MB
