"""`mf-parallel launch`: msrun_launcher.sh's positional forms and defaults, bad input before any worker starts, and
a failing rank reported at once with its code and log."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from mf_parallel.cli import main
from mf_parallel.errors import ParallelError
from mf_parallel.launch_args import resolve
from mf_parallel.launcher import msrun_command


def test_msrun_launcher_positional_forms_and_defaults():
    one = resolve(["python run.py --x 1"], [], {})
    assert one.command == ("python", "run.py", "--x", "1")
    assert (one.worker_num, one.local_worker_num, one.master_port, one.log_dir, one.join, one.cluster_time_out) \
        == (8, 8, 8118, "output/msrun_log", False, 7200)
    two = resolve(["4"], ["python", "run.py"], {})
    assert (two.worker_num, two.local_worker_num) == (4, 4)
    six = resolve(["python run.py", "2", "9000", "logs", "True", "300"], [], {})
    assert (six.worker_num, six.master_port, six.log_dir, six.join, six.cluster_time_out) == \
        (2, 9000, "logs", True, 300)
    nine = resolve(["16", "8", "10.0.0.1", "9000", "1", "logs", "False", "300"], ["run.py"], {})
    assert (nine.local_worker_num, nine.master_addr, nine.node_rank, nine.local_ranks) == \
        (8, "10.0.0.1", 1, list(range(8, 16)))
    opts = resolve(["4"], ["run.py"], {"master_port": 9100, "worker_num": None})
    assert opts.master_port == 9100 and opts.worker_num == 4
    cmd = msrun_command(nine)
    assert "--node_rank=1" in cmd and "--local_worker_num=8" in cmd and "--master_addr=10.0.0.1" in cmd
    assert cmd[cmd.index("python"):] == ["python", "-m", "mf_parallel.worker"]


@pytest.mark.parametrize("positionals,command,key", [
    ([], [], "command"),
    (["4", "9000"], ["run.py"], "positionals"),
    (["x"], ["run.py"], "worker_num"),
    (["16", "3", "a", "9000", "0", "l", "False", "1"], ["run.py"], "local_worker_num"),
    (["16", "8", "a", "9000", "2", "l", "False", "1"], ["run.py"], "node_rank"),
    (["2", "80", "l", "False", "1"], ["run.py"], "master_port"),
    (["2", "9000", "l", "maybe", "1"], ["run.py"], "join"),
])
def test_bad_launch_arguments_name_the_setting(positionals, command, key):
    with pytest.raises(ParallelError) as e:
        resolve(positionals, command, {})
    assert e.value.key == key


def test_a_layout_that_does_not_fit_the_workers_fails_before_any_worker_starts(tmp_path, mf_assets):
    yaml = mf_assets / "mindformers-yaml" / "predict_llama3_8b_800T_A2_64G.yaml"
    logs = tmp_path / "logs"
    for workers, overrides, needle in (("3", ["--set", "parallel_config.model_parallel=3"], "num_heads"),
                                       ("2", [], "there are 2 devices")):
        result = CliRunner().invoke(main, ["launch", "--worker_num", workers, "--log_dir", str(logs), "--",
                                           "mf-generate", "run", "--config", str(yaml), *overrides])
        assert result.exit_code == 2 and needle in result.output, result.output
    assert not logs.exists()


@pytest.mark.slow
def test_a_failing_rank_stops_the_job_at_once_naming_rank_code_and_log(tmp_path):
    """Rank 1 exits with 3 while rank 0 would run for a minute: the launch ends with 3, names rank 1 and its log,
    and rank 0 never finishes."""
    script = tmp_path / "job.py"
    done = tmp_path / "rank0_done"
    script.write_text(
        "import os, sys, time\n"
        "assert sys.argv[1:] == ['--worker', '--log']\n"
        "print('hello from', os.environ['RANK_ID'], flush=True)\n"
        "if os.environ.get('MS_ROLE') == 'MS_SCHED':\n    time.sleep(60); sys.exit(0)\n"
        "if os.environ['RANK_ID'] == '1':\n    time.sleep(1); sys.exit(3)\n"
        f"time.sleep(60)\nopen({str(done)!r}, 'w').close()\n")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = ["python", str(script), "--worker", "--log"]  # msrun's own parser would take these for its options
    proc = subprocess.run([sys.executable, "-m", "mf_parallel.cli", "launch", "--worker_num", "2", "--master_port",
                           str(port), "--log_dir", str(tmp_path / "logs"), "--", *command],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert f"rank 1 exited with code 3; its log: {tmp_path / 'logs' / 'worker_1.log'}" in proc.stderr
    assert "[rank 0] hello from 0" in proc.stdout and "[rank 1] hello from 1" in proc.stdout
    assert "MF_PARALLEL_COMMAND=" in proc.stdout.splitlines()[0]  # msrun never parses the command's options
    assert not done.exists()


def test_a_checkpoint_that_does_not_match_the_model_fails_before_any_worker_starts(tmp_path, mf_assets):
    """The checkpoint the command loads is read from its headers (numpy only) against the model's names and
    shapes: a wrong shape or a missing tensor is one line naming the tensor, exit 2, and no worker starts."""
    import numpy as np
    from safetensors.numpy import save_file

    from mf_config import load_config, param_shapes
    from mf_config.sources import model_config_from_task

    yaml = mf_assets / "mindformers-yaml" / "predict_llama2_7b.yaml"
    sets = [f"model.model_config.{k}={v}" for k, v in dict(num_layers=1, hidden_size=32, num_heads=4, n_kv_heads=2,
                                                            vocab_size=64, intermediate_size=64).items()]
    sets += ["parallel_config.model_parallel=2", "parallel_config.data_parallel=1"]
    shapes = param_shapes(model_config_from_task(load_config(yaml, sets)))
    tensors = {n: np.zeros(s, np.float32) for n, s in shapes.items()}
    wrong = "model.layers.0.attention.wk.weight"
    for case, change in (("shape", {wrong: np.zeros((64, 32), np.float32)}), ("missing", {})):
        data = dict(tensors, **change)
        if case == "missing":
            del data[wrong]
        save_file(data, str(tmp_path / f"{case}.safetensors"))
        args = ["launch", "--worker_num", "2", "--log_dir", str(tmp_path / "logs"), "--", "mf-generate", "run",
                "--config", str(yaml), "--load_checkpoint", str(tmp_path / f"{case}.safetensors")]
        result = CliRunner().invoke(main, args + [a for s in sets for a in ("--set", s)])
        assert result.exit_code == 2 and wrong in result.output, result.output
        assert ("[64, 32]" in result.output) == (case == "shape")
    assert not (tmp_path / "logs").exists()
