"""mf-ckpt's command line speaks the shared language (mf_config.cli_options): its options are pinned in
cli_options.json beside this file (rerun with MF_UPDATE_CLI_SNAPSHOTS=1 after a deliberate change), every option
has help and a snake_case spelling that also answers in kebab-case, every command has an example."""

from pathlib import Path

from mf_ckpt.cli import main
from mf_config.cli_options import check_cli


def test_options_are_pinned_and_documented():
    check_cli(main, Path(__file__).with_name("cli_options.json"))


def test_one_name_per_concept_and_mindformers_spellings(hf, tmp_path):
    """--input/--output as every mf command names them, convert_weight.py's --input_path/--output_path and
    their kebab-case spellings: the same conversion."""
    from click.testing import CliRunner

    folder, _ = hf["llama_gqa"]
    spellings = (["--input", "--output"], ["--input_path", "--output_path"], ["--input-path", "--output-path"])
    for i, (src, dst) in enumerate(spellings):
        r = CliRunner().invoke(main, ["convert", src, str(folder), dst, str(tmp_path / str(i)), "--family", "llama"])
        assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["diff", str(tmp_path / "0"), str(tmp_path / "2")])
    assert r.exit_code == 0 and r.output.startswith("identical")
