"""`mf-generate run --use_parallel True` under `mf-parallel launch`: the model and its KV cache heads split over
2 model-parallel CPU workers generate exactly what one process generates."""

import socket
import subprocess
import sys

import pytest

from .helpers import SENTENCES, texts
from .test_cli import SHRINK, invoke

PROMPTS = ["The quick", "A tiny", "Generation with"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_mp2_generation_equals_one_process(trained, mf_assets, tmp_path):
    folder, _ = trained
    args = ["run", "--config", str(mf_assets / "mindformers-yaml" / "predict_llama2_7b.yaml"), "--load_checkpoint",
            str(folder / "model.safetensors"), "--vocab_file", str(folder / "tokenizer.model"),
            "--set", "context.device_target=CPU", "--set", "parallel_config.data_parallel=1",
            "--set", "parallel_config.model_parallel=2", "--max_new_tokens", "50"]
    for key, value in SHRINK.items():
        args += ["--set", f"model.model_config.{key}={value}"]
    for p in PROMPTS:
        args += ["--predict_data", p]
    one = invoke(*args)
    assert one.exit_code == 0, one.output
    expected = one.stdout.strip("\n")
    assert texts(one.stdout)[:2] == [SENTENCES[0], SENTENCES[2]] and len(texts(one.stdout)) == 3
    r = subprocess.run([sys.executable, "-m", "mf_parallel.cli", "launch", "--worker_num", "2", "--master_port",
                        str(free_port()), "--log_dir", str(tmp_path / "logs"), "--", "mf-generate", *args,
                        "--use_parallel", "True"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    for rank in (0, 1):
        lines = [line[len(f"[rank {rank}] "):] for line in r.stdout.splitlines() if line.startswith(f"[rank {rank}] ")]
        assert expected in "\n".join(lines), lines  # its stdout, block-buffered, arrives in one piece
