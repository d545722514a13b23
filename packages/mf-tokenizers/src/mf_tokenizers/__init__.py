"""mf-tokenizers: Tokenizers of the four model families (SentencePiece, tiktoken, HF tokenizers); no mindspore or torch."""

__version__ = "0.1.0"
