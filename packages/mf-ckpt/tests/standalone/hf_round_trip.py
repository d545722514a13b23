"""mf-ckpt installed alone (numpy and safetensors, no torch, mindspore or transformers): a Hugging Face Mixtral
folder written by `safetensors` converts to ours and back bitwise, and our checkpoint split over two ranks merges
back bitwise. Run by `nox -s standalone-mf-ckpt` in an environment holding only `uv pip install ./packages/mf-ckpt`
and safetensors; it also passes in the development environment.
"""

import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from mf_config import family, preset
from mf_config.hf import to_hf_dict
from mf_config.rules import hf_shapes


def mf_ckpt(*args):
    """Run the installed `mf-ckpt` console script; return its stdout."""
    exe = Path(sys.executable).with_name("mf-ckpt")
    proc = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True)
    assert proc.returncode == 0, f"mf-ckpt {args[0]}: {proc.stderr}"
    return proc.stdout + proc.stderr


def hf_folder(folder):
    """A tiny Mixtral (experts and GQA, so renames and stacking both run) as Hugging Face saves it."""
    config = preset("mixtral", "tiny")
    rng = np.random.default_rng(0)
    tensors = {name: rng.standard_normal(shape).astype(np.float32)
               for name, shape in hf_shapes(family("mixtral").weight_rules(config)).items()}
    folder.mkdir()
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(to_hf_dict(config)))
    return tensors


def assert_equal(a, b, what):
    assert a.keys() == b.keys(), (what, sorted(a.keys() ^ b.keys())[:5])
    for name in a:
        assert a[name].dtype == b[name].dtype and np.array_equal(a[name], b[name]), (what, name)


def main():
    heavy = [m for m in ("torch", "mindspore", "transformers") if importlib.util.find_spec(m)]
    if "--standalone" in sys.argv:
        assert not heavy, f"not a standalone environment: {heavy} installed"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        original = hf_folder(tmp / "hf")
        mf_ckpt("convert", "--input_path", tmp / "hf", "--output_path", tmp / "ours")
        mf_ckpt("convert", "--reversed", "--input_path", tmp / "ours", "--output_path", tmp / "back")
        back = {}
        for shard in sorted((tmp / "back").glob("*.safetensors")):
            back.update(load_file(str(shard)))
        assert_equal(original, back, "HF -> ours -> HF")

        ours = load_file(str(tmp / "ours" / "model.safetensors"))
        split = {name: {"split_dim": 0} for name in ours if name.endswith(("wq.weight", "wk.weight", "wv.weight"))}
        (tmp / "tp2.json").write_text(json.dumps({"model_parallel": 2, "params": split}))
        mf_ckpt("split", "--dst_strategy", tmp / "tp2.json", "--src_ckpt", tmp / "ours", "--dst_ckpt_dir", tmp / "tp2")
        mf_ckpt("merge", "--src_strategy", tmp / "tp2.json", "--src_ckpt_dir", tmp / "tp2", "--dst_ckpt_dir",
                tmp / "merged")
        rank0 = load_file(str(next((tmp / "tp2" / "rank_0").glob("*.safetensors"))))
        name = next(iter(split))
        assert rank0[name].shape[0] * 2 == ours[name].shape[0], name
        merged = load_file(str(tmp / "merged" / "rank_0" / "checkpoint_0.safetensors"))
        assert_equal(ours, merged, "split then merge")
        mf_ckpt("verify", tmp / "merged" / "rank_0")
    loaded = sorted(m for m in ("torch", "mindspore", "transformers") if m in sys.modules)
    assert not loaded, loaded
    print(f"mf-ckpt standalone: HF -> ours -> HF bitwise ({len(original)} tensors), tp2 split/merge bitwise; "
          f"heavy packages installed: {heavy or 'none'}")


if __name__ == "__main__":
    main()
