"""Safetensors work needs numpy alone: converting and inspecting never import mindspore, torch or transformers."""

import subprocess
import sys

CHECK = ("import atexit, sys\n"
         "atexit.register(lambda: print('heavy:', sorted(m for m in ('mindspore', 'torch', 'transformers') "
         "if m in sys.modules), file=sys.stderr))\n"
         "from mf_ckpt.cli import main; main()")


def test_no_heavy_imports(hf, tmp_path):
    folder, _ = hf["mixtral"]
    for args in (["convert", "--input_path", folder, "--output_path", tmp_path / "ours"],
                 ["convert", "--reversed", "--input_path", tmp_path / "ours", "--output_path", tmp_path / "back"],
                 ["info", tmp_path / "ours"], ["diff", folder, tmp_path / "back"], ["verify", tmp_path / "back"]):
        proc = subprocess.run([sys.executable, "-c", CHECK, *map(str, args)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert "heavy: []" in proc.stderr, (args[0], proc.stderr)
