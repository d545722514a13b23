"""Safetensors work needs numpy alone: converting and inspecting never import mindspore, torch or transformers;
commands that only copy bytes do not even import numpy (it takes longer to import than they take to start)."""

import subprocess
import sys

CHECK = ("import atexit, sys\n"
         "atexit.register(lambda: print('heavy:', sorted(m for m in {modules!r} if m in sys.modules), "
         "file=sys.stderr))\n"
         "from mf_ckpt.cli import main; main()")


def imported(args, modules=("mindspore", "torch", "transformers")):
    """Which of ``modules`` ``mf-ckpt ARGS`` imported."""
    proc = subprocess.run([sys.executable, "-c", CHECK.format(modules=modules), *map(str, args)], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr.rsplit("heavy: ", 1)[1].strip()


def test_no_heavy_imports(hf, tmp_path):
    folder, _ = hf["mixtral"]
    for args in (["convert", "--input_path", folder, "--output_path", tmp_path / "ours"],
                 ["convert", "--reversed", "--input_path", tmp_path / "ours", "--output_path", tmp_path / "back"],
                 ["info", tmp_path / "ours"], ["diff", folder, tmp_path / "back"], ["verify", tmp_path / "back"]):
        assert imported(args) == "[]", args[0]


def test_copying_commands_do_not_import_numpy(hf, tmp_path):
    folder, _ = hf["llama_gqa"]  # renamed tensors only: kernel copies
    light = ("numpy", "ml_dtypes", "tqdm")
    for args in (["convert", "--input_path", folder, "--output_path", tmp_path / "ours"], ["verify", tmp_path / "ours"],
                 ["strip-optimizer", tmp_path / "ours", tmp_path / "same"]):
        assert imported(args, light) == "[]", args[0]
    cast = ["cast", tmp_path / "ours", tmp_path / "bf16", "--dtype", "bf16"]
    assert imported(cast, light) == "['ml_dtypes', 'numpy']"  # what makes new values needs them


def test_package_exports_its_api_lazily():
    """``from mf_ckpt import convert`` gives the function; ``import mf_ckpt`` imports no numpy."""
    code = ("import sys, mf_ckpt; assert 'numpy' not in sys.modules\n"
            "import mf_ckpt.cli, mf_ckpt.conversion\n"
            "from mf_ckpt import convert, reshard, open_checkpoint, verify, CheckpointError\n"
            "assert callable(convert) and convert.__module__ == 'mf_ckpt.conversion' and callable(reshard)\n"
            "assert {'convert', 'info', 'diff', 'load_layout'} <= set(dir(mf_ckpt))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
