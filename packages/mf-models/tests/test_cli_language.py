"""mf-models's command line speaks the shared language (mf_config.cli_options): its options are pinned in
cli_options.json beside this file (rerun with MF_UPDATE_CLI_SNAPSHOTS=1 after a deliberate change), every option
has help and a snake_case spelling that also answers in kebab-case, every command has an example."""

from pathlib import Path

from mf_config.cli_options import check_cli
from mf_models.cli import main


def test_options_are_pinned_and_documented():
    check_cli(main, Path(__file__).with_name("cli_options.json"))


def test_unknown_set_key_is_an_error_with_did_you_mean(mf_assets, tmp_path):
    from click.testing import CliRunner

    from mf_config import preset

    yaml = mf_assets / "mindformers-yaml" / "predict_llama2_7b.yaml"
    r = CliRunner().invoke(main, ["params", str(yaml), "--set", "model.model_config.num_layer=2"])
    assert (r.exit_code, r.stderr) == (2, "Error: --set model.model_config.num_layer: unknown key "
                                          "(did you mean 'num_layers'?)\n")
    preset("llama", "tiny").save_pretrained(tmp_path)
    r = CliRunner().invoke(main, ["params", str(tmp_path / "config.json"), "--set", "num_layer=2"])
    assert r.exit_code == 2 and "--set num_layer: unknown key of LlamaConfig (did you mean 'num_layers'?)" in r.stderr
