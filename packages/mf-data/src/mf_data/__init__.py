"""mf-data: Alpaca/WikiText preprocessing to MindRecord and an indexed format; training datasets.

The API below is imported on first use of a name (``from mf_data import preprocess``): ``import mf_data`` loads
neither numpy nor MindSpore, and MindSpore only loads for MindRecord output and ``CausalLanguageModelDataset``.
"""

from mf_config.lazy import lazy_exports

__version__ = "0.1.0"

_LAZY = {
    "DataError": "mf_data.errors",
    "preprocess": "mf_data.preprocessing",
    "Summary": "mf_data.preprocessing",
    "convert_file": "mf_data.alpaca",
    "to_conversation": "mf_data.alpaca",
    "wikitext_clean": "mf_data.wiki",
    "articles": "mf_data.wiki",
    "IndexedDataset": "mf_data.indexed",
    "IndexedWriter": "mf_data.indexed",
    "CausalLanguageModelDataset": "mf_data.dataset",
    "numpy_batches": "mf_data.dataset",
    "eos_reset_batch": "mf_data.eos_reset",
    "sample_plan": "mf_data.sampling",
}

__all__ = [*_LAZY, "__version__"]
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
