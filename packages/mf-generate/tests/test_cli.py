from click.testing import CliRunner

from mf_generate import __version__
from mf_generate.cli import main


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == "mf-generate, version " + __version__


def test_help():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "Usage: mf-generate" in result.output
