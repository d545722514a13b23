"""mf-tokenizers: Tokenizers of the four model families (SentencePiece, tiktoken, HF tokenizers); no mindspore or torch.

The backends (sentencepiece, tiktoken, tokenizers) are imported only when a tokenizer is built.
"""

__version__ = "0.1.0"

from mf_tokenizers.auto import AutoTokenizer
from mf_tokenizers.base import PreTrainedTokenizerBase
from mf_tokenizers.batch_encoding import BatchEncoding
from mf_tokenizers.chat import alpaca_prompt
from mf_tokenizers.errors import TokenizerError
from mf_tokenizers.fast import BloomTokenizerFast, GPT2TokenizerFast, LlamaTokenizerFast, PreTrainedTokenizerFast
from mf_tokenizers.gpt2 import GPT2Tokenizer
from mf_tokenizers.llama import LlamaTokenizer
from mf_tokenizers.llama3 import Llama3Tokenizer

__all__ = [
    "AutoTokenizer", "BatchEncoding", "BloomTokenizerFast", "GPT2Tokenizer", "GPT2TokenizerFast", "Llama3Tokenizer",
    "LlamaTokenizer", "LlamaTokenizerFast", "PreTrainedTokenizerBase", "PreTrainedTokenizerFast", "TokenizerError",
    "alpaca_prompt",
]
