"""What a user sees from the CLI for broken input: one line on stderr, exit code 2."""

import json

import pytest
import yaml

from mf_config import __version__

from .helpers import SHARED, write


def test_version_and_help(run_cli):
    assert run_cli("--version").output.strip() == f"mf-config, version {__version__}"
    result = run_cli("--help")
    assert result.exit_code == 0 and "Usage: mf-config" in result.output


@pytest.mark.parametrize("name", SHARED)
def test_shared_files_validate_clean_and_show_round_trips(run_cli, yaml_dir, name, tmp_path):
    result = run_cli("validate", "--strict", yaml_dir / name)
    assert result.exit_code == 0, result.output
    assert result.output == f"{yaml_dir / name}: 0 error(s), 0 warning(s)\n"
    shown = run_cli("show", yaml_dir / name)
    assert shown.exit_code == 0
    assert yaml.safe_load(shown.output) == yaml.safe_load((yaml_dir / name).read_text())
    as_json = run_cli("show", "--json", yaml_dir / name)
    assert json.loads(as_json.output) == yaml.safe_load(shown.output)


def test_syntax_error_names_file_and_line(run_cli, tmp_path):
    bad = write(tmp_path / "bad.yaml", "model:\n  model_config:\n    num_layers: [1, 2\n    x: 1\n")
    result = run_cli("show", bad)
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {bad}:4: YAML syntax error: while parsing a flow sequence "
                             "expected ',' or ']', but got ':'\n")


def test_wrong_type_is_an_error(run_cli, tmp_path):
    bad = write(tmp_path / "t.yaml", "runner_config:\n  epochs: three\nmodel:\n  model_config:\n    type: LlamaConfig\n"
                                    "    num_layers: -1\n")
    result = run_cli("validate", bad)
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"error: {bad}:2: runner_config.epochs: expected an integer or null, got string 'three'",
        f"error: {bad}:6: model.model_config.num_layers: must be greater than 0, got -1",
        f"{bad}: 2 error(s), 0 warning(s)"]


def test_unknown_section_is_a_warning_and_strict_fails(run_cli, tmp_path):
    bad = write(tmp_path / "u.yaml", "runner_confg:\n  epochs: 1\nmodel:\n  model_config:\n    num_layer: 2\n")
    lines = [f"warning: {bad}:1: runner_confg: unknown key (did you mean 'runner_config'?)",
             f"warning: {bad}:5: model.model_config.num_layer: unknown key (did you mean 'num_layers'?)",
             f"{bad}: 0 error(s), 2 warning(s)"]
    result = run_cli("validate", bad)
    assert result.exit_code == 0 and result.output.splitlines() == lines
    strict = run_cli("validate", "--strict", bad)
    assert strict.exit_code == 2 and strict.output.splitlines() == lines


def test_rules_between_keys(run_cli, yaml_dir):
    llama3 = yaml_dir / "run_llama3_8b_8k_800T_A2_64G.yaml"
    result = run_cli("validate", llama3, "--set", "parallel_config.model_parallel=3")
    assert result.exit_code == 2
    assert "parallel_config.model_parallel: num_heads (32) is not divisible by model_parallel (3)" in result.output
    devices = run_cli("validate", llama3, "--device_num", "16")
    assert devices.exit_code == 2
    assert ("parallel_config.data_parallel: data_parallel x model_parallel x context_parallel x pipeline_stage = "
            "8x1x1x1 = 8, but there are 16 devices") in devices.output


def test_base_config_cycle(run_cli, tmp_path):
    a = write(tmp_path / "a.yaml", "base_config: b.yaml\nseed: 1\n")
    b = write(tmp_path / "b.yaml", "base_config: a.yaml\n")
    result = run_cli("show", a)
    assert result.exit_code == 2
    assert result.stderr == f"Error: {b}: base_config: base_config cycle: {a} -> {b} -> {a}\n"


def test_missing_base_file(run_cli, tmp_path):
    a = write(tmp_path / "a.yaml", "seed: 1\nbase_config: nothere.yaml\n")
    result = run_cli("show", a)
    assert result.exit_code == 2
    assert result.stderr == f"Error: {a}:2: base_config: base file not found: {tmp_path / 'nothere.yaml'}\n"


def test_missing_file(run_cli, tmp_path):
    result = run_cli("show", tmp_path / "none.yaml")
    assert result.exit_code == 2 and result.stderr == f"Error: {tmp_path / 'none.yaml'}: no such file\n"


@pytest.mark.parametrize("override", ["num_layers", "=2", "a..b=1"])
def test_bad_override_syntax(run_cli, yaml_dir, override):
    result = run_cli("show", yaml_dir / "run_gpt2.yaml", "--set", override)
    assert result.exit_code == 2
    assert result.stderr == (f"Error: bad override '{override}': expected KEY=VALUE with a dotted KEY such as "
                             "model.model_config.num_layers=2\n")


def test_diff(run_cli, tmp_path):
    """Exit 1 and one line a difference when A and B differ, 0 and `identical` when not: as `mf-ckpt diff`."""
    a = write(tmp_path / "a.yaml", "x: {p: 1, q: 2}\nonly_a: 1\n")
    b = write(tmp_path / "b.yaml", "x: {p: 1, q: 3}\nonly_b: [1]\n")
    result = run_cli("diff", a, b)
    assert result.exit_code == 1
    assert result.output.splitlines() == ["missing in B  only_a: 1", "extra in B    only_b: [1]",
                                          "changed       x.q: 2 -> 3", f"3 difference(s) between {a} and {b}"]
    as_json = run_cli("diff", a, b, "--json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.output)[2] == {"key": "x.q", "kind": "changed", "a": 2, "b": 3}
    same = run_cli("diff", a, a)
    assert (same.exit_code, same.output) == (0, f"identical: every key of {a} equals {a}\n")


@pytest.mark.parametrize("command", ["show", "validate", "diff"])
def test_unknown_set_key_is_an_error_with_did_you_mean(run_cli, yaml_dir, command):
    path = yaml_dir / "run_gpt2.yaml"
    args = [path, path] if command == "diff" else [path]
    result = run_cli(command, *args, "--set", "model.model_config.num_layer=2")
    assert result.exit_code == 2
    assert result.stderr == "Error: --set model.model_config.num_layer: unknown key (did you mean 'num_layers'?)\n"
    nested = run_cli(command, *args, "--set", "runner_confg.epochs=2")
    assert nested.stderr == "Error: --set runner_confg.epochs: unknown key (did you mean 'runner_config'?)\n"
    known = run_cli(command, *args, "--set", "context.device_target=CPU")  # known, absent from the file
    assert known.exit_code in (0, 1) and not known.stderr
