"""`mf-parallel plan` reproduces the seeds' hardware statements, one test each, from the shared MindFormers YAMLs:
exit 0 when the layout fits, 1 when none does, 2 on bad input."""

import json

import pytest
from click.testing import CliRunner

from mf_parallel.cli import main


@pytest.fixture(scope="module")
def yamls(mf_assets):
    return mf_assets / "mindformers-yaml"


def plan(yamls, name, *args):
    return CliRunner().invoke(main, ["plan", str(yamls / name), *map(str, args)])


def test_llama3_8b_finetune_fits_one_8x64gb_node_with_dp8_only_with_the_optimizer_shard(yamls):
    shard = plan(yamls, "run_llama3_8b_8k_800T_A2_64G.yaml", "--devices", 8, "--device_memory", "64GB")
    assert shard.exit_code == 0, shard.output
    assert "dp8 mp1 ep1 pp1" in shard.output and "optimizer shard on" in shard.output
    plain = plan(yamls, "run_llama3_8b_8k_800T_A2_64G.yaml", "--devices", 8, "--set",
                 "parallel.enable_parallel_optimizer=False")
    assert plain.exit_code == 1, plain.output
    assert "does not fit" in plain.output


def test_llama3_8b_inference_fits_one_card(yamls):
    result = plan(yamls, "predict_llama3_8b_800T_A2_64G.yaml", "--devices", 1)
    assert result.exit_code == 0, result.output


def test_mixtral_8x7b_finetune_does_not_fit_8_cards_and_fits_16_as_dp8_ep8_pp2(yamls):
    eight = plan(yamls, "finetune_mixtral-8x7b.yaml", "--devices", 8)
    assert eight.exit_code == 1, eight.output
    assert "every layout" in eight.output and eight.output.count(" no\n") >= 10
    sixteen = plan(yamls, "finetune_mixtral-8x7b.yaml", "--devices", 16)
    assert sixteen.exit_code == 0, sixteen.output
    assert "dp8 mp1 ep8 pp2" in sixteen.output and "stage 1: layers 16-31 (16)" in sixteen.output


def test_mixtral_8x7b_inference_needs_2_cards(yamls):
    assert plan(yamls, "predict_mixtral-8x7b.yaml", "--devices", 1).exit_code == 1
    two = plan(yamls, "predict_mixtral-8x7b.yaml", "--devices", 2)
    assert two.exit_code == 0 and "dp1 mp2 ep1 pp1 fits" in two.output, two.output


def test_bloom_7b1_inference_fits_one_card_and_training_needs_8(yamls):
    assert plan(yamls, "run_bloom_7.1b.yaml", "--devices", 1, "--mode", "predict").exit_code == 0
    assert plan(yamls, "run_bloom_7.1b.yaml", "--devices", 4).exit_code == 1
    eight = plan(yamls, "run_bloom_7.1b.yaml", "--devices", 8)
    assert eight.exit_code == 0 and "dp1 mp4 ep1 pp2" in eight.output, eight.output


def test_json_counts_params_per_device_from_the_plan(yamls):
    result = plan(yamls, "finetune_mixtral-8x7b.yaml", "--devices", 16, "--json")
    data = json.loads(result.output)
    layout = data["layouts"][0]
    assert (layout["data_parallel"], layout["expert_parallel"], layout["pipeline_stage"]) == (8, 8, 2)
    assert layout["global_batch"] == 1 * 8 * 16
    # the heavier stage: 16 layers with 1 of 8 experts each, attention, norms and the (replicated) head
    h, f, kv, v = 4096, 14336, 1024, 32000
    per_layer = 3 * h * f + 2 * h * h + 2 * h * kv + 8 * h + 2 * h
    assert layout["params_per_device"] == 16 * per_layer + v * h + h


@pytest.mark.parametrize("args,needle", [
    (("--devices", 0), "devices"),
    (("--devices", 8, "--device_memory", "lots"), "device_memory"),
    (("--devices", 8, "--set", "model.model_config.num_heads=7"), "num_heads"),
])
def test_bad_input_is_one_line_and_exit_2(yamls, args, needle):
    result = plan(yamls, "run_llama3_8b_8k_800T_A2_64G.yaml", *args)
    assert result.exit_code == 2 and needle in result.output and len(result.output.strip().splitlines()) == 1


def test_a_missing_file_is_exit_2(tmp_path):
    result = CliRunner().invoke(main, ["plan", str(tmp_path / "nope.yaml"), "--devices", 1])
    assert result.exit_code == 2


def test_plan_ranktable_and_launch_checks_do_not_import_mindspore(yamls, tmp_path):
    """`plan`, the rank tables and the launcher's checks run on a login node without MindSpore loaded."""
    import subprocess
    import sys

    code = ("import atexit, sys\n"
            "atexit.register(lambda: print('heavy:', [m for m in ('mindspore', 'torch') if m in sys.modules]))\n"
            "from mf_parallel.cli import main\nmain()\n")
    for args in (["plan", str(yamls / "finetune_mixtral-8x7b.yaml"), "--devices", "16"],
                 ["ranktable", "--device_ips", "1.1.1.1,1.1.1.2", "--device_num", "[0,2)", "--server_ip", "1.0.0.1",
                  "--output", str(tmp_path / "t.json")],
                 ["launch", "--worker_num", "3", "--", "run.py", "--config", str(yamls / "run_gpt2.yaml")]):
        r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
        assert "heavy: []" in r.stdout, (args, r.stdout, r.stderr)
