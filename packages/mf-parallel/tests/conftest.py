"""mf-config's pytest plugin (the mf_assets fixture)."""

pytest_plugins = ["mf_config.pytest_plugin"]
