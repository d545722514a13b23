import subprocess
import sys


def test_import_loads_neither_mindspore_nor_torch():
    code = ("import sys, mf_config, mf_config.cli, mf_config.hf, mf_config.schema; "
            "print(sorted(m for m in ('mindspore', 'torch', 'transformers', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    imported = {line.split("|")[-1].strip().split(".")[0] for line in out.stderr.splitlines() if "|" in line}
    assert not imported & {"mindspore", "torch", "transformers"}
