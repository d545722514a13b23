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


def test_indexed_path_needs_no_mindspore(tmp_path, alpaca_small, sp_model):
    """Preprocessing to the indexed format and reading it back never import MindSpore."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from mf_data.preprocessing import preprocess\n"
        "from mf_data.dataset import numpy_batches\n"
        "from mf_data.indexed import IndexedDataset\n"
        f"preprocess('alpaca', {str(alpaca_small)!r}, {str(sp_model)!r}, 128, {str(tmp_path / 'o')!r}, "
        "fmt='indexed', workers=2, progress=False)\n"
        f"cfg = {{'data_loader': {{'dataset_dir': {str(tmp_path / 'o')!r}, 'shuffle': True}}, "
        "'input_columns': ['input_ids', 'labels'], 'batch_size': 4}\n"
        f"assert len(list(numpy_batches(cfg))) == len(IndexedDataset({str(tmp_path / 'o')!r})) // 4 > 50\n"
        "assert not [m for m in sys.modules if m.startswith(('mindspore', 'torch'))], 'framework imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_package_exports_its_api_lazily():
    """``from mf_data import X`` for the API names; ``import mf_data`` itself loads neither numpy nor MindSpore."""
    import subprocess
    import sys

    code = ("import sys, mf_data; assert not {'numpy', 'mindspore'} & set(sys.modules), 'eager import'\n"
            "import mf_data.preprocessing, mf_data.dataset\n"
            "from mf_data import preprocess, numpy_batches, IndexedDataset, DataError, eos_reset_batch\n"
            "assert callable(preprocess) and preprocess.__module__ == 'mf_data.preprocessing'\n"
            "assert {'preprocess', 'CausalLanguageModelDataset', 'wikitext_clean'} <= set(dir(mf_data))\n"
            "assert 'mindspore' not in sys.modules\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
