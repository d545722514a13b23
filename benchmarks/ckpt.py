"""mf-ckpt convert vs copying the same bytes: wall time and peak RSS of each, and their ratios.

Writes a Hugging Face folder of random bfloat16 weights with Mistral 7B's real layer shapes (2 of its 32
layers, vocab 32000; about 1.4 GB in 2 shards with an index), then in one run, each in its own process:
``shutil.copyfile`` of the folder's files, the same copy followed by SHA-256 of the copies (the work of the
manifest every mf-ckpt write leaves), ``mf-ckpt convert`` of the folder to ours, and the same conversion with a
dtype cast (``--dtype fp16`` and ``--dtype fp32``; ``--cast`` picks them), compared with the rename-only one (time)
and with the largest tensor it writes (peak RSS). Each is repeated
(alternating) and the median is reported, with each child's CPU time (user + system: wall time cannot fall
below CPU time / cores). Before each run the source is read through (page cache warm) and the script waits
(up to ``--quiet-wait`` seconds) for a quiet second on the machine; it reports the CPU time other processes took
during the runs. Children run with their bytecode cached (``PYTHONPYCACHEPREFIX``, filled by an untimed first convert),
as an installed package has it, even where ``PYTHONDONTWRITEBYTECODE`` is set. The files it makes are
deleted at the end.

    /work/dev/bin/python benchmarks/ckpt.py [--workdir DIR] [--repeat 3] [--cast fp16 fp32] [--quiet-wait 60]
                                            [--small] [--threads N] [--pin]

``--threads``/``--pin`` apply to every child alike (thread env and CPU affinity are inherited); ``--small`` makes a
quarter-width folder (about 0.2 GB) to check the script works; ``--quiet-wait 0`` does not wait for a quiet machine.
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common

THREADS = _common.cpu_setup()  # the children inherit the thread env and the affinity

import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402

from mf_ckpt.output import Spec, save_folder  # noqa: E402

CONFIG = {"architectures": ["MistralForCausalLM"], "model_type": "mistral", "vocab_size": 32000, "hidden_size": 4096,
          "intermediate_size": 14336, "num_hidden_layers": 2, "num_attention_heads": 32, "num_key_value_heads": 8,
          "max_position_embeddings": 32768, "rms_norm_eps": 1e-5, "rope_theta": 1000000.0, "torch_dtype": "bfloat16",
          "tie_word_embeddings": False}

# each child reports its own peak RSS (VmHWM; ru_maxrss would count the parent's memory at fork)
PEAK = "import atexit, sys; atexit.register(lambda: print(open('/proc/self/status').read(), file=sys.stderr))\n"
COPY = PEAK + """
import shutil, sys
from pathlib import Path
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
dst.mkdir()
for f in sorted(src.iterdir()):
    shutil.copyfile(f, dst / f.name)
"""
COPY_HASH = COPY + """
import hashlib
for f in sorted(dst.iterdir()):
    with open(f, "rb") as fh:
        hashlib.file_digest(fh, "sha256")
"""
CONVERT = PEAK + "from mf_ckpt.cli import main; main()"
BYTES = {"fp16": 2, "bf16": 2, "fp32": 4}  # per element of each --dtype (the source is bfloat16)


def hf_specs(c):
    h, f = c["hidden_size"], c["intermediate_size"]
    kv = c["num_key_value_heads"] * h // c["num_attention_heads"]
    shapes = {"model.embed_tokens.weight": (c["vocab_size"], h)}
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        shapes.update({p + "self_attn.q_proj.weight": (h, h), p + "self_attn.k_proj.weight": (kv, h),
                       p + "self_attn.v_proj.weight": (kv, h), p + "self_attn.o_proj.weight": (h, h),
                       p + "mlp.gate_proj.weight": (f, h), p + "mlp.up_proj.weight": (f, h),
                       p + "mlp.down_proj.weight": (h, f), p + "input_layernorm.weight": (h,),
                       p + "post_attention_layernorm.weight": (h,)})
    shapes.update({"model.norm.weight": (h,), "lm_head.weight": (c["vocab_size"], h)})
    rng = np.random.default_rng(0)

    def make(shape):  # random bf16 bit patterns with the exponent's top bit clear: finite, |x| < 2
        return [(rng.integers(0, 1 << 16, size=shape, dtype=np.uint16) & 0xBFFF).view(ml_dtypes.bfloat16)]

    return [Spec(n, "BF16", s, lambda s=s: make(s)) for n, s in shapes.items()]


def warm(folder):
    """Read the source files through, so each timed run finds them in the page cache (this machine's memory
    manager pages out file pages left untouched for half a minute, and the first run after would read the disk)."""
    buffer = bytearray(16 << 20)
    for f in sorted(folder.iterdir()):
        with open(f, "rb", buffering=0) as fh:
            while fh.readinto(buffer):
                pass


def cpu_of_children():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_cpu():
    """CPU seconds the whole machine has been busy (Linux; 0 elsewhere)."""
    try:
        ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def wait_quiet(limit=60):
    """Wait until the machine was idle (< 5% busy) for a second, or ``limit`` seconds have passed."""
    end = time.time() + limit
    while time.time() < end:
        before = machine_cpu()
        time.sleep(1)
        if machine_cpu() - before < 0.05 * (os.cpu_count() or 1):
            return


def run(args, env, quiet_wait=60):
    """Wall seconds, peak RSS (bytes) and CPU seconds of a child process, and the CPU seconds other processes
    took meanwhile (dirty pages of earlier runs flushed first)."""
    os.sync()
    wait_quiet(quiet_wait)
    cpu, machine = cpu_of_children(), machine_cpu()
    start = time.perf_counter()
    proc = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{args} failed: {proc.stderr}")
    kb = [line.split()[1] for line in proc.stderr.splitlines() if line.startswith("VmHWM:")]
    cpu = cpu_of_children() - cpu
    return seconds, int(kb[-1]) * 1024, cpu, max(0.0, machine_cpu() - machine - cpu)


load = _common.load


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=None, help="Where to write the folders (default: a temp dir).")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cast", nargs="*", default=["fp16", "fp32"], choices=sorted(BYTES),
                        help="Target dtypes of the casting conversions to time beside the rename-only one.")
    parser.add_argument("--quiet-wait", type=float, default=60,
                        help="Seconds to wait at most for a quiet second before each run (0: do not wait).")
    parser.add_argument("--small", action="store_true", help="a quarter of the width (to check the script works)")
    _common.add_cpu_args(parser)
    args = parser.parse_args()
    config = {**CONFIG, **({"hidden_size": 1024, "intermediate_size": 3584, "num_attention_heads": 8,
                            "num_key_value_heads": 2} if args.small else {})}
    work = Path(tempfile.mkdtemp(prefix="mf-ckpt-bench-", dir=args.workdir))
    try:
        hf = work / "hf"
        specs = hf_specs(config)
        size = sum(s.nbytes for s in specs)
        largest = max(s.nbytes for s in specs)
        save_folder(hf, specs, lambda n: None, max_shard_bytes=int(size * 0.6),
                    extra=lambda tmp: (tmp / "config.json").write_text(json.dumps(config)))
        files = sorted(p.name for p in hf.iterdir())
        print(f"HF folder: {size / 1e9:.2f} GB of weights in {files}; largest tensor {largest / 1e6:.0f} MB")
        print(f"{_common.describe(THREADS, 'OMP/MKL env, inherited by every child')}\nbefore: {load()}")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        commands = {"copy": [sys.executable, "-c", COPY, str(hf)],
                    "copy+sha256": [sys.executable, "-c", COPY_HASH, str(hf)],
                    "convert": [sys.executable, "-c", CONVERT, "convert", "--input_path", str(hf), "--output_path"]}
        for dtype in args.cast:
            commands[f"convert {dtype}"] = [*commands["convert"][:4], "--dtype", dtype, *commands["convert"][4:]]
        subprocess.run([*commands["convert"], str(work / "first")], check=True, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(work / "first")
        runs = {name: [] for name in commands}
        for i in range(args.repeat):
            for name, command in commands.items():
                out = work / f"{name}{i}"
                warm(hf)
                runs[name].append(run([*command, str(out)], env, args.quiet_wait))
                shutil.rmtree(out)
            print("  run " + ", ".join(f"{k} {v[-1][0]:.2f} s (CPU {v[-1][2]:.2f} s) {v[-1][1] / 1e6:.0f} MB"
                                       for k, v in runs.items()))
        med = {k: [statistics.median(r[i] for r in v) for i in range(3)] for k, v in runs.items()}
        others = max(r[3] for v in runs.values() for r in v)
        print(f"after: {load()}; other processes took at most {others:.2f} CPU s during one run")
        for name, (seconds, rss, cpu) in med.items():
            print(f"{name:>14}: {seconds:.2f} s, CPU {cpu:.2f} s ({cpu / seconds:.2f} cores), peak RSS "
                  f"{rss / 1e6:.0f} MB (median of {args.repeat})")
        conv_s, conv_rss, _ = med["convert"]
        print(f"ratio convert/copy: wall {conv_s / med['copy'][0]:.2f}x (target <= 1.5x); convert/(copy+sha256): "
              f"{conv_s / med['copy+sha256'][0]:.2f}x; peak RSS {conv_rss / 1e6:.0f} MB with the largest tensor "
              f"{largest / 1e6:.0f} MB")
        for dtype in args.cast:
            seconds, rss, cpu = med[f"convert {dtype}"]
            out_largest = largest // 2 * BYTES[dtype]
            print(f"convert --dtype {dtype}: CPU {cpu / med['convert'][2]:.2f}x the rename-only convert's")
            _common.check(f"convert --dtype {dtype} peak RSS over its largest output tensor",
                          (rss - out_largest) / 1e6, 300, higher=False, unit=" MB")
            _common.check(f"convert --dtype {dtype} time / rename-only convert", seconds / conv_s, 2.0, higher=False)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
