"""MindFormers' own task YAMLs, unchanged, train on CPU when shrunk by `--set` overrides: Llama 2 and Mixtral
finetuning (MindRecord with labels, as their YAMLs read), GPT-2, Bloom and Llama 3 pretraining; a user's callback
comes in through auto_register and --register_path."""

import json

import pytest

from .helpers import cli

SHRINK = ["model.model_config.num_layers=2", "model.model_config.hidden_size=32", "model.model_config.num_heads=4",
          "model.model_config.seq_length=32", "model.model_config.compute_dtype=float32",
          "model.model_config.param_init_type=float32", "model.model_config.layernorm_compute_type=float32",
          "model.model_config.softmax_compute_type=float32", "context.device_target=CPU",
          "runner_config.sink_mode=true", "runner_config.sink_size=2", "runner_config.epochs=1",
          "runner_config.batch_size=2",
          "model.model_config.checkpoint_name_or_path=''"]
CASES = {
    "finetune_llama2_7b.yaml": ("alpaca_mindrecord", ["model.model_config.n_kv_heads=2",
                                                      "model.model_config.seq_length=96"]),
    "finetune_mixtral-8x7b.yaml": ("alpaca_mindrecord", ["model.model_config.n_kv_heads=2",
                                                         "model.model_config.seq_length=96", "moe_config.expert_num=4",
                                                         "parallel_config.expert_parallel=1"]),
    "run_gpt2.yaml": ("wiki", []),
    "run_bloom_560m.yaml": ("wiki", ["lr_schedule.total_steps=-1"]),  # its 4000 steps: more than 2 is an error
    "run_llama3_8b_8k_800T_A2_64G.yaml": ("wiki", ["model.model_config.n_kv_heads=2"]),
}


@pytest.fixture(scope="module")
def alpaca_mindrecord(tmp_path_factory, mf_assets, sp_model):
    import subprocess

    from .helpers import script

    out = tmp_path_factory.mktemp("alpaca") / "alpaca.mindrecord"  # the Vicuna system prompt alone is ~40 tokens
    subprocess.run([script("mf-data"), "preprocess", "--dataset_type", "alpaca", "--input_glob",
                    str(mf_assets / "text" / "alpaca_pydocs.json"), "--tokenizer", str(sp_model), "--seq_length",
                    "96", "--output_file", str(out), "--no_progress"], check=True, capture_output=True)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_a_mindformers_yaml_trains_on_cpu_when_shrunk(request, tmp_path, mf_assets, sp_model, name):
    data_fixture, extra = CASES[name]
    data = request.getfixturevalue(data_fixture)
    sets = [arg for s in [*SHRINK, *extra, f"processor.tokenizer.vocab_file={sp_model}"] for arg in ("--set", s)]
    code, _, err = cli("run", "--config", mf_assets / "mindformers-yaml" / name, "--run_mode", "train",
                       "--use_parallel", "false", "--train_data", data, "--output_dir", tmp_path, "--no_progress",
                       *sets)
    steps = [r for r in map(json.loads, (tmp_path / "metrics.jsonl").read_text().splitlines()) if "loss" in r]
    assert [r["step"] for r in steps] == [1, 2]
    assert "step:[    2/    2]" in err
    assert "not honoured" in err  # each of these YAMLs sets some Ascend-only switch, named once
    assert len([x for x in err.splitlines() if "not honoured by mf-train" in x]) == 1


def test_a_user_callback_comes_in_through_auto_register(tmp_path, sp_model, wiki):
    from .helpers import write_task

    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "my_callbacks.py").write_text(
        "from mindspore.train import Callback\n"
        "class StepWriter(Callback):\n"
        "    def __init__(self, path):\n"
        "        self.path = path\n"
        "    def on_train_step_end(self, run_context):\n"
        "        with open(self.path, 'a') as f:\n"
        "            f.write(str(run_context.original_args().cur_step_num) + '\\n')\n")
    log = tmp_path / "steps.txt"
    task = write_task(tmp_path / "task.yaml", sp_model, wiki, steps=2, callbacks=[
        {"type": "MFLossMonitor"}, {"type": "StepWriter", "auto_register": "my_callbacks.StepWriter",
                                    "path": str(log)}])
    cli("run", "--config", task, "--register_path", tmp_path / "user", "--no_progress")
    assert log.read_text().split() == ["1", "2"]
