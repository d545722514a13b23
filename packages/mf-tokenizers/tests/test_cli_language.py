"""mf-tokenizers's command line speaks the shared language (mf_config.cli_options): its options are pinned in
cli_options.json beside this file (rerun with MF_UPDATE_CLI_SNAPSHOTS=1 after a deliberate change), every option
has help and a snake_case spelling that also answers in kebab-case, every command has an example."""

from pathlib import Path

from mf_config.cli_options import check_cli
from mf_tokenizers.cli import main


def test_options_are_pinned_and_documented():
    check_cli(main, Path(__file__).with_name("cli_options.json"))


def test_unknown_set_key_and_both_tokenizer_spellings(mf_assets):
    from click.testing import CliRunner

    yaml = str(mf_assets / "mindformers-yaml" / "predict_llama2_7b.yaml")
    model = str(mf_assets / "tokenizers" / "mistral-7b-v0.1.sp.model")
    r = CliRunner().invoke(main, ["info", yaml, "--set", "processor.tokenizer.vocab_fil=x"])
    assert (r.exit_code, r.stderr) == (2, "Error: --set processor.tokenizer.vocab_fil: unknown key "
                                          "(did you mean 'vocab_file'?)\n")
    outputs = {CliRunner().invoke(main, args).output for args in (["info", model], ["info", "--tokenizer", model],
                                                                  ["info", "--vocab-file", model])}
    assert len(outputs) == 1 and "LlamaTokenizer" in outputs.pop()
    r = CliRunner().invoke(main, ["encode", "--tokenizer", model, "--add_special_tokens"], input="hi\n")
    assert r.exit_code == 0 and r.stdout == "1 12014\n"
