"""LoRA through `mf-train run`: a pet_config in the task finetunes adapters only (the base weights stay as loaded),
the checkpoints hold the adapters under MindFormers' names, and `mf-train merge-lora` turns base + adapter into a
model mf-generate runs."""

import subprocess

import numpy as np

from mf_train import checkpoint

from .helpers import cli, script, write_task

PET = "model.model_config.pet_config={pet_type: lora, lora_rank: 4, lora_alpha: 8, target_modules: '.*wq|.*wv'}"


def test_lora_finetune_trains_adapters_only_and_merges(tmp_path, sp_model, wiki):
    task = write_task(tmp_path / "task.yaml", sp_model, wiki, steps=4)
    cli("run", "--config", task, "--set", "runner_config.sink_size=1", "--set", "lr_schedule.learning_rate=0",
        "--output_dir", tmp_path / "base")
    base = checkpoint.complete(tmp_path / "base" / "checkpoint" / "rank_0")[-1]
    cli("run", "--config", task, "--run_mode", "finetune", "--load_checkpoint", base, "--set", PET,
        "--set", "lr_schedule.learning_rate=0.01", "--output_dir", tmp_path / "lora")
    tuned = checkpoint.complete(tmp_path / "lora" / "checkpoint" / "rank_0")[-1]
    before, _ = checkpoint.load(base)
    after, _ = checkpoint.load(tuned)
    adapters = sorted(n for n in after if "mindpet_delta_lora" in n and not n.startswith("adam_"))
    assert adapters[:2] == ["model.layers.0.attention.wq.mindpet_delta_lora_a",
                            "model.layers.0.attention.wq.mindpet_delta_lora_b"] and len(adapters) == 8
    assert all(np.abs(after[n]).max() > 0 for n in adapters if n.endswith("_b"))
    for name, value in before.items():
        if not name.startswith(("adam_", "global_step", "scale_sense")):
            np.testing.assert_array_equal(after[name], value, err_msg=name)
    assert not any(n.startswith("adam_m.model.tok_embeddings") for n in after)  # frozen: no moments
    cli("merge-lora", "--base", base, "--adapter", tuned, "--output_dir", tmp_path / "merged")
    gen = subprocess.run([script("mf-generate"), "run", "--model", str(tmp_path / "merged"), "--vocab_file",
                          str(sp_model), "--do_sample", "false", "--max_new_tokens", "3", "--predict_data", "The"],
                         capture_output=True, text=True)
    assert gen.returncode == 0, gen.stderr[-2000:]
