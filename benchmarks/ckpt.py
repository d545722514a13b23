"""mf-ckpt convert vs copying the same bytes: wall time and peak RSS of each, and their ratios.

Writes a Hugging Face folder of random bfloat16 weights with Mistral 7B's real layer shapes (2 of its 32
layers, vocab 32000; about 1.4 GB in 2 shards with an index), then in one run, each in its own process:
``shutil.copyfile`` of the folder's files, the same copy followed by SHA-256 of the copies (the work of the
manifest every mf-ckpt write leaves), and ``mf-ckpt convert`` of the folder to ours. Each is repeated
(alternating) and the median is reported. The files it makes are deleted at the end.

    /work/dev/bin/python benchmarks/ckpt.py [--workdir DIR] [--repeat 3]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ml_dtypes
import numpy as np

from mf_ckpt.output import Spec, save_folder

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


def run(args):
    """Wall seconds and peak RSS (bytes) of a child process (dirty pages of earlier runs flushed first)."""
    os.sync()
    start = time.perf_counter()
    proc = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{args} failed: {proc.stderr}")
    kb = [line.split()[1] for line in proc.stderr.splitlines() if line.startswith("VmHWM:")]
    return seconds, int(kb[-1]) * 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=None, help="Where to write the folders (default: a temp dir).")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mf-ckpt-bench-", dir=args.workdir))
    try:
        hf = work / "hf"
        specs = hf_specs(CONFIG)
        size = sum(s.nbytes for s in specs)
        largest = max(s.nbytes for s in specs)
        save_folder(hf, specs, lambda n: None, max_shard_bytes=int(size * 0.6),
                    extra=lambda tmp: (tmp / "config.json").write_text(json.dumps(CONFIG)))
        files = sorted(p.name for p in hf.iterdir())
        print(f"HF folder: {size / 1e9:.2f} GB of weights in {files}; largest tensor {largest / 1e6:.0f} MB")
        runs = {"copy": [], "copy+sha256": [], "convert": []}
        for i in range(args.repeat):
            for name, code, extra in (("copy", COPY, []), ("copy+sha256", COPY_HASH, []),
                                      ("convert", CONVERT, ["convert", "--input_path"])):
                out = work / f"{name}{i}"
                runs[name].append(run([sys.executable, "-c", code, *extra, str(hf),
                                       *(["--output_path"] if extra else []), str(out)]))
                shutil.rmtree(out)
            print("  run " + ", ".join(f"{k} {v[-1][0]:.2f} s {v[-1][1] / 1e6:.0f} MB" for k, v in runs.items()))
        med = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v)) for k, v in runs.items()}
        for name, (seconds, rss) in med.items():
            print(f"{name:>12}: {seconds:.2f} s, peak RSS {rss / 1e6:.0f} MB (median of {args.repeat})")
        conv_s, conv_rss = med["convert"]
        print(f"ratio convert/copy: wall {conv_s / med['copy'][0]:.2f}x (target <= 1.5x); convert/(copy+sha256): "
              f"{conv_s / med['copy+sha256'][0]:.2f}x; peak RSS {conv_rss / 1e6:.0f} MB with the largest tensor "
              f"{largest / 1e6:.0f} MB (target <= largest + 300 MB)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
