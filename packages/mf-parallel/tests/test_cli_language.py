"""mf-parallel's command line speaks the shared language (mf_config.cli_options): its options are pinned in
cli_options.json beside this file (rerun with MF_UPDATE_CLI_SNAPSHOTS=1 after a deliberate change), every option
has help and a snake_case spelling that also answers in kebab-case, every command has an example."""

from pathlib import Path

from mf_config.cli_options import check_cli
from mf_parallel.cli import main


def test_options_are_pinned_and_documented():
    check_cli(main, Path(__file__).with_name("cli_options.json"))
