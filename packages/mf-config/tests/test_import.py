import subprocess
import sys


def test_import_loads_neither_mindspore_nor_torch():
    code = ("import sys, mf_config, mf_config.cli, mf_config.hf, mf_config.schema; "
            "print(sorted(m for m in ('mindspore', 'torch', 'transformers', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    imported = {line.split("|")[-1].strip().split(".")[0] for line in out.stderr.splitlines() if "|" in line}
    assert not imported & {"mindspore", "torch", "transformers"}


def test_pytest_plugin_loads_only_when_asked(tmp_path):
    """Installing mf-config adds no fixture to a user's pytest; a suite gets mf_assets by asking for the plugin."""
    test = "def test_uses(mf_assets):\n    assert (mf_assets / 'tokenizers').is_dir()\n"
    (tmp_path / "test_user.py").write_text(test)
    run = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)]
    out = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 1 and "fixture 'mf_assets' not found" in out.stdout
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["mf_config.pytest_plugin"]\n')
    out = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stdout
    code = "import sys, mf_config.testing; print('pytest' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
