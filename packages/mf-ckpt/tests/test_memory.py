"""Streaming: the peak resident memory of a rewrite stays near one tensor, not the checkpoint's size."""

import subprocess
import sys

import numpy as np
import pytest

from mf_ckpt.output import Spec, save_file

PEAK = ("import atexit, sys; atexit.register(lambda: print(open('/proc/self/status').read(), file=sys.stderr))\n"
        "{preload}\nfrom mf_ckpt.cli import main; main()")
MB = 1 << 20


def peak_rss(*args, preload=""):
    code = PEAK.format(preload=preload)
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return int(next(line.split()[1] for line in proc.stderr.splitlines() if line.startswith("VmHWM:"))) * 1024


@pytest.mark.slow
def test_peak_memory_is_one_tensor_not_the_model(tmp_path):
    tensors = 6
    shape = (2048, 4096)  # 32 MB of float32 each, 192 MB in all
    save_file(tmp_path / "big.safetensors",
              [Spec(f"w{i}", "F32", shape, lambda i=i: [np.full(shape, i + 0.5, np.float32)]) for i in range(tensors)],
              lambda n: None)
    # a cast holds one source tensor and its cast at a time (beyond the code it runs: numpy and ml_dtypes)
    base = peak_rss("--version", preload="import numpy, ml_dtypes")
    extra = peak_rss("cast", tmp_path / "big.safetensors", tmp_path / "bf16", "--dtype", "bf16") - base
    assert extra < 32 * MB + 16 * MB + 16 * MB, extra / MB
    # tensors kept as they are are copied by the kernel and hashed through 4 MB windows (one per core), without
    # numpy: less than one tensor
    base = peak_rss("--version")
    extra = peak_rss("strip-optimizer", tmp_path / "big.safetensors", tmp_path / "same.safetensors") - base
    assert extra < 24 * MB, extra / MB
