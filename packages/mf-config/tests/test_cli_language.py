"""mf-config's command line speaks the shared language (mf_config.cli_options): its options are pinned in
cli_options.json beside this file (rerun with MF_UPDATE_CLI_SNAPSHOTS=1 after a deliberate change), every option
has help and a snake_case spelling that also answers in kebab-case, every command has an example."""

from pathlib import Path

from mf_config.cli import main
from mf_config.cli_options import check_cli


def test_options_are_pinned_and_documented():
    check_cli(main, Path(__file__).with_name("cli_options.json"))


def _tiny_cli():
    import click

    from mf_config.cli_support import group

    @group("1.0", "mf-tiny")
    def tiny():
        """A CLI for these tests."""

    @tiny.command()
    @click.option("--input_path", required=True, help="What to read.")
    @click.option("--add-special-tokens/--no-add-special-tokens", default=True, help="A kebab-case flag.")
    def run(input_path, add_special_tokens):
        """Echo the input.

        \b
        Example:
          mf-tiny run --input_path x
        """
        click.echo(f"{input_path} {add_special_tokens}")

    return tiny


def test_both_spellings_answer_and_help_lists_snake_case():
    from click.testing import CliRunner

    tiny = _tiny_cli()
    runner = CliRunner()
    for args in (["--input_path", "a"], ["--input-path", "a"]):
        assert runner.invoke(tiny, ["run", *args]).output == "a True\n"
    for flag in ("--no_add_special_tokens", "--no-add-special-tokens"):
        assert runner.invoke(tiny, ["run", "--input_path", "a", flag]).output == "a False\n"
    help_text = runner.invoke(tiny, ["run", "--help"]).output
    assert "--input_path" in help_text and "--add_special_tokens / --no_add_special_tokens" in help_text
    assert "--input-path" not in help_text and "--add-special-tokens" not in help_text


def test_a_changed_option_fails_the_pin(tmp_path, monkeypatch):
    import click
    import pytest

    tiny = _tiny_cli()
    pinned = tmp_path / "cli_options.json"
    monkeypatch.setenv("MF_UPDATE_CLI_SNAPSHOTS", "1")
    check_cli(tiny, pinned)
    monkeypatch.delenv("MF_UPDATE_CLI_SNAPSHOTS")
    check_cli(tiny, pinned)
    tiny.commands["run"].params.append(click.Option(["--extra"], help="New."))
    with pytest.raises(AssertionError, match="the options of mf-tiny changed"):
        check_cli(tiny, pinned)
    tiny.commands["run"].params.pop()
    tiny.commands["run"].params[0].opts.remove("--input-path")  # a spelling disappears
    with pytest.raises(AssertionError, match="the options of mf-tiny changed"):
        check_cli(tiny, pinned)


def test_language_problems_are_named():
    import click

    from mf_config.cli_options import language_problems

    tiny = _tiny_cli()
    tiny.commands["run"].help = "No example here."
    tiny.commands["run"].params.append(click.Option(["--quiet-mode"]))
    assert language_problems(tiny) == ["run: its help has no example", "run --quiet-mode: no snake_case spelling",
                                       "run --quiet-mode: no help"]
