"""Streaming: the peak resident memory of a rewrite stays near one tensor, not the checkpoint's size."""

import json
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
    # a cast reads, casts and writes a slice of 4 MB at a time (beyond the code it runs: numpy and ml_dtypes;
    # and the hashing windows): less than one tensor, source or cast (before streaming: both, 51 MB here)
    base = peak_rss("--version", preload="import numpy, ml_dtypes")
    extra = peak_rss("cast", tmp_path / "big.safetensors", tmp_path / "bf16", "--dtype", "bf16") - base
    assert extra < 24 * MB, extra / MB
    # tensors kept as they are are copied by the kernel and hashed through 4 MB windows (one per core), without
    # numpy: less than one tensor
    base = peak_rss("--version")
    extra = peak_rss("strip-optimizer", tmp_path / "big.safetensors", tmp_path / "same.safetensors") - base
    assert extra < 24 * MB, extra / MB


LLAMA = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 16384, "hidden_size": 1024,
         "intermediate_size": 2816, "num_hidden_layers": 1, "num_attention_heads": 8, "num_key_value_heads": 8,
         "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "torch_dtype": "bfloat16", "tie_word_embeddings": False}


def llama_specs(c):
    """A bf16 Llama's tensors (Hugging Face names): embedding and head 32 MB each, the rest smaller."""
    import ml_dtypes

    h, f, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    shapes = {"model.embed_tokens.weight": (v, h), "model.norm.weight": (h,), "lm_head.weight": (v, h)}
    for proj, shape in {"self_attn.q_proj": (h, h), "self_attn.k_proj": (h, h), "self_attn.v_proj": (h, h),
                        "self_attn.o_proj": (h, h), "mlp.gate_proj": (f, h), "mlp.up_proj": (f, h),
                        "mlp.down_proj": (h, f)}.items():
        shapes[f"model.layers.0.{proj}.weight"] = shape
    for norm in ("input_layernorm", "post_attention_layernorm"):
        shapes[f"model.layers.0.{norm}.weight"] = (h,)
    return [Spec(n, "BF16", s, lambda s=s: [np.full(s, 0.25, ml_dtypes.bfloat16)]) for n, s in shapes.items()]


@pytest.mark.slow
def test_convert_with_a_cast_holds_slices_not_tensors(tmp_path):
    """``convert --dtype fp32`` of a bf16 folder (largest tensor 32 MB, 64 MB once cast): its peak beyond the
    rename-only conversion's (with numpy and ml_dtypes loaded) stays under one source tensor."""
    from mf_ckpt.output import save_folder

    specs = llama_specs(LLAMA)
    save_folder(tmp_path / "hf", specs, lambda n: None,
                extra=lambda tmp: (tmp / "config.json").write_text(json.dumps(LLAMA)))
    largest = max(s.nbytes for s in specs)
    assert largest == 32 * MB
    convert = ("convert", "--input_path", tmp_path / "hf", "--output_path")
    base = peak_rss(*convert, tmp_path / "same", preload="import numpy, ml_dtypes")
    extra = peak_rss(*convert, tmp_path / "fp32", "--dtype", "fp32") - base
    assert extra < largest, extra / MB
