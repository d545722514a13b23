from click.testing import CliRunner

from mf_parallel import __version__
from mf_parallel.cli import main


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == "mf-parallel, version " + __version__


def test_help():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "Usage: mf-parallel" in result.output
