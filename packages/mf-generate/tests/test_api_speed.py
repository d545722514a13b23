"""The mf-generate README's API snippet, run as it is in a fresh interpreter (MindSpore's default PyNative mode),
decodes as fast as ``mf-generate run`` on the same folder: mf's graphs run compiled whatever the global mode."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import transformers

README = Path(__file__).resolve().parents[1] / "README.md"
RATE = re.compile(r"then ([\d.]+) tokens/s, ([\d.]+) tokens per CPU second")
HARNESS = """
import logging
logging.basicConfig(level=logging.WARNING)
logging.getLogger("mf_generate").setLevel(logging.DEBUG)  # generate logs its timing at DEBUG
import mindspore
assert mindspore.get_context("mode") == mindspore.PYNATIVE_MODE
"""


def snippet():
    text = README.read_text(encoding="utf-8")
    return re.search(r"<!-- api-snippet.*?-->\n```python\n(.*?)```", text, re.S).group(1)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, mf_assets):
    """A random Llama (3 layers, hidden 96) as a Hugging Face folder, with the Mistral SentencePiece model."""
    folder = tmp_path_factory.mktemp("api_speed") / "llama_tiny"
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=32000, hidden_size=96, intermediate_size=256, num_hidden_layers=3,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                                      bos_token_id=1, eos_token_id=2)
    transformers.LlamaForCausalLM(config).eval().save_pretrained(folder)
    shutil.copy(mf_assets / "tokenizers" / "mistral-7b-v0.1.sp.model", folder / "tokenizer.model")
    return folder


def rates(args, **kw):
    """(tokens/s, tokens per CPU second) of the steady decode steps, as the run printed them."""
    env = {**os.environ, "MF_COMPILE_CACHE": "0"}  # both compile: this compares decoding, not the cache
    out = subprocess.run(args, capture_output=True, text=True, env=env, **kw)
    assert out.returncode == 0, out.stderr[-3000:]
    found = RATE.findall(out.stderr)
    assert found, out.stderr[-3000:]
    return float(found[-1][0]), float(found[-1][1])


@pytest.mark.slow
def test_readme_api_snippet_decodes_as_fast_as_the_cli(folder):
    code = HARNESS + snippet().replace('"llama_tiny"', repr(str(folder)))
    cli = [str(Path(sys.executable).parent / "mf-generate"), "run", "--model", str(folder), "--predict_data",
           "The capital of France is", "--max_new_tokens", "128", "--do_sample", "false"]
    api, ours = [], []
    for _ in range(3):  # taking turns; the best of each: this machine is shared
        api.append(rates([sys.executable, "-c", code]))
        ours.append(rates(cli))
    # CPU time per token, steadier than wall time. Run to run it moves by up to 40% on a shared 2-core VM (best of
    # three: 179-281 tokens per CPU second for either side, same code), so the bound is half the CLI's: what this
    # guards is the compiled path, and op-by-op PyNative decodes 10-100x slower. benchmarks/generate.py measures
    # the API path's speed against transformers.
    assert max(r[1] for r in api) >= 0.5 * max(r[1] for r in ours), (api, ours)
