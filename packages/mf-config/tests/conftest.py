import pytest

pytest_plugins = ["mf_config.pytest_plugin"]  # mf_assets


@pytest.fixture(scope="session")
def yaml_dir(mf_assets):
    return mf_assets / "mindformers-yaml"


@pytest.fixture
def run_cli():
    """Invoke `mf-config` as a user does; returns click's Result (exit_code, stdout, stderr)."""
    from click.testing import CliRunner

    from mf_config.cli import main

    def run(*args):
        return CliRunner().invoke(main, [str(a) for a in args])

    return run
