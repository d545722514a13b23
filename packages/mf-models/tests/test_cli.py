from click.testing import CliRunner

from mf_models import __version__
from mf_models.cli import main


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == "mf-models, version " + __version__


def test_help():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "Usage: mf-models" in result.output
