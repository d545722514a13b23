from click.testing import CliRunner

from mf_data import __version__
from mf_data.cli import main


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == "mf-data, version " + __version__


def test_help():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "Usage: mf-data" in result.output
