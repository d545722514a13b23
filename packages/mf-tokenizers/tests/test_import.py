"""``import mf_tokenizers`` stays light: no mindspore, torch, transformers nor tokenizer backends."""

import subprocess
import sys


def test_import_loads_no_heavy_framework():
    code = ("import sys, mf_tokenizers; "
            "print(sorted(m for m in ('mindspore', 'torch', 'transformers', 'sentencepiece', 'tiktoken', "
            "'tokenizers', 'numpy', 'jinja2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

