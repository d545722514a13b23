"""Shared by the tests: tiny task YAMLs from the shipped example, datasets made by the mf-data CLI, the mf-train CLI
in a subprocess."""

import os
import subprocess
import sys
from pathlib import Path

import yaml

EXAMPLE = Path(__file__).parents[1] / "src" / "mf_train" / "configs" / "pretrain_llama_tiny.yaml"
TINY_MODEL = dict(seq_length=32, hidden_size=32, num_layers=2, num_heads=4, n_kv_heads=2, intermediate_size=64)


def script(name):
    """A console script of this environment (beside its python)."""
    return str(Path(sys.executable).parent / name)


def preprocess(out, kind, source, tokenizer, seq_length=32):
    """An indexed dataset made by the mf-data CLI."""
    subprocess.run([script("mf-data"), "preprocess", "--dataset_type", kind, "--input_glob",
                    str(source), "--tokenizer", str(tokenizer), "--seq_length", str(seq_length), "--output_file",
                    str(out), "--format", "indexed", "--no_progress"], check=True, capture_output=True)
    return out


def write_task(path, sp_model, train, eval_data=None, steps=6, **sections):
    """A tiny Llama task YAML from the shipped example: ``steps`` optimizer steps (sink_size), batch 4."""
    task = yaml.safe_load(EXAMPLE.read_text())
    task["model"]["model_config"].update(TINY_MODEL)
    task["processor"]["tokenizer"]["vocab_file"] = str(sp_model)
    task["train_dataset"]["data_loader"]["dataset_dir"] = str(train)
    task["eval_dataset"]["data_loader"]["dataset_dir"] = str(eval_data or train)
    task["runner_config"].update(batch_size=4, sink_mode=True, sink_size=steps, epochs=1)
    task["train_dataset"]["batch_size"] = task["eval_dataset"]["batch_size"] = 4
    task["output_dir"] = str(path.parent / "output")
    task["do_eval"] = False
    task["callbacks"] = [{"type": "MFLossMonitor", "per_print_times": 1},
                         {"type": "CheckpointMonitor", "prefix": "tiny", "save_checkpoint_steps": 3,
                          "keep_checkpoint_max": 3}]
    for key, value in sections.items():
        task[key] = value
    path.write_text(yaml.safe_dump(task, sort_keys=False))
    return path


def cli(*args, env=None, check=True):
    """``mf-train ARGS`` in a subprocess: (returncode, stdout, stderr)."""
    run = subprocess.run([script("mf-train"), *map(str, args)], capture_output=True, text=True,
                         env={**os.environ, **(env or {})})
    if check and run.returncode != 0:
        raise AssertionError(f"mf-train {' '.join(map(str, args))} exited {run.returncode}:\n{run.stderr[-3000:]}")
    return run.returncode, run.stdout, run.stderr
