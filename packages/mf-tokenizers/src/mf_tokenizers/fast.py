"""Tokenizers on Hugging Face's ``tokenizers`` (Rust): ``PreTrainedTokenizerFast`` for any
``tokenizer.json``, and the named classes ``LlamaTokenizerFast``, ``GPT2TokenizerFast`` and
``BloomTokenizerFast``. Batches go to ``tokenizers``' own parallel batch encoder."""

from mf_config.fileio import atomic_write
from mf_tokenizers.base import PreTrainedTokenizerBase
from mf_tokenizers.byte_level import GPT2_PATTERN
from mf_tokenizers.errors import TokenizerError
from mf_tokenizers.vocab_files import load_tokenizer_json


class PreTrainedTokenizerFast(PreTrainedTokenizerBase):
    """Any ``tokenizer.json``: its normalizer, pre-tokenizer, model, post-processor and decoder.

    Special tokens are added as the file's post-processor says, unless ``add_bos_token`` or
    ``add_eos_token`` is given: then those flags decide, as in LlamaTokenizer."""

    vocab_files_names = {"tokenizer_file": "tokenizer.json"}

    def __init__(self, tokenizer_file=None, vocab_file=None, tokenizer_object=None, add_bos_token=None,
                 add_eos_token=None, **kwargs):
        if tokenizer_object is None:
            tokenizer_object = self._backend(tokenizer_file, vocab_file, kwargs)
        self.backend_tokenizer = tokenizer_object
        self._template = None
        self._flags = add_bos_token is not None or add_eos_token is not None
        super().__init__(add_bos_token=add_bos_token, add_eos_token=add_eos_token, **kwargs)
        self.backend_tokenizer.encode_special_tokens = self.split_special_tokens
        if not self._flags:
            pre, post = self._special_template()[:2]
            self.add_bos_token = self.bos_token_id is not None and pre[:1] == [self.bos_token_id]
            self.add_eos_token = self.eos_token_id is not None and post[-1:] == [self.eos_token_id]

    def _backend(self, tokenizer_file, vocab_file, kwargs):
        """The ``tokenizers.Tokenizer`` to use; ``vocab_file`` may name the tokenizer.json too."""
        if tokenizer_file is None and vocab_file is not None and str(vocab_file).endswith(".json"):
            tokenizer_file = vocab_file
        if tokenizer_file is None:
            raise TokenizerError(f"{type(self).__name__} needs tokenizer_file (a tokenizer.json)",
                                 key="tokenizer_file")
        return load_tokenizer_json(tokenizer_file)

    # ----- vocabulary: the backend holds base and added tokens alike ------------------------------
    def _base_vocab_size(self):
        return self.backend_tokenizer.get_vocab_size(with_added_tokens=False)

    def __len__(self):
        return self.backend_tokenizer.get_vocab_size(with_added_tokens=True)

    def _base_token_to_id(self, token):
        return self.backend_tokenizer.token_to_id(token)

    def _base_id_to_token(self, idx):
        return self.backend_tokenizer.id_to_token(idx)

    def _id_token(self, idx):
        self._check_ids([idx])
        return self.backend_tokenizer.id_to_token(idx)

    def get_vocab(self):
        return self.backend_tokenizer.get_vocab(with_added_tokens=True)

    def get_added_vocab(self):
        base = self._base_vocab_size()
        return {t.content: i for i, t in self.backend_tokenizer.get_added_tokens_decoder().items() if i >= base}

    def _restore_added(self, idx, entry):
        content = entry.get("content") if isinstance(entry, dict) else entry
        special = entry.get("special", True) if isinstance(entry, dict) else True
        self.add_tokens([content], special_tokens=special)

    def add_tokens(self, new_tokens, special_tokens=False):
        from tokenizers import AddedToken

        if isinstance(new_tokens, str):
            new_tokens = [new_tokens]
        tokens = [t.get("content") if isinstance(t, dict) else t for t in new_tokens]
        if not all(tokens):
            raise TokenizerError("cannot add an empty token", key="add_tokens")
        before = len(self)
        added = [AddedToken(t, special=special_tokens, normalized=False) for t in tokens]
        if special_tokens:
            self._special.update(tokens)
            self.backend_tokenizer.add_special_tokens(added)
        else:
            self.backend_tokenizer.add_tokens([a for a in added if self._base_token_to_id(a.content) is None])
        self._template = None
        return len(self) - before

    # ----- encoding -------------------------------------------------------------------------------
    def _encode_batch(self, texts, add_special_tokens, split_special_tokens):
        tok = self.backend_tokenizer
        split = self.split_special_tokens if split_special_tokens is None else bool(split_special_tokens)
        if split == self.split_special_tokens:
            return [e.ids for e in tok.encode_batch_fast(texts, add_special_tokens=add_special_tokens)]
        tok.encode_special_tokens = split
        try:
            return [e.ids for e in tok.encode_batch_fast(texts, add_special_tokens=add_special_tokens)]
        finally:
            tok.encode_special_tokens = self.split_special_tokens

    def _encode_plain(self, texts, split_special_tokens=None):
        return self._encode_batch(texts, False, split_special_tokens)

    def _encode_with_special_tokens(self, texts, split_special_tokens=None):
        if not self._flags or self._post_processor_adds_flags():
            return self._encode_batch(texts, True, split_special_tokens)
        return super()._encode_with_special_tokens(texts, split_special_tokens)

    def _special_template(self):
        """(prefix, suffix, pair prefix, pair middle, pair suffix) that the post-processor adds,
        found by post-processing two one-token sentinels."""
        if self._template is None:
            tok = self.backend_tokenizer
            a, b = tok.encode("a", add_special_tokens=False), tok.encode("b", add_special_tokens=False)
            single = tok.post_process(a, None, True).ids
            pair = tok.post_process(a, b, True).ids
            i = _find(single, a.ids)
            j = _find(pair, a.ids)
            k = _find(pair, b.ids, j + len(a.ids))
            self._template = (single[:i], single[i + len(a.ids):], pair[:j], pair[j + len(a.ids):k],
                              pair[k + len(b.ids):])
        return self._template

    def _post_processor_adds_flags(self):
        """True when the file's post-processor adds exactly the bos/eos that the flags ask for."""
        return self._special_template()[:2] == self._bos_eos()

    def build_inputs_with_special_tokens(self, token_ids_0, token_ids_1=None):
        if self._flags:
            return super().build_inputs_with_special_tokens(token_ids_0, token_ids_1)
        pre, post, pair_pre, pair_mid, pair_post = self._special_template()
        if token_ids_1 is None:
            return pre + list(token_ids_0) + post
        return pair_pre + list(token_ids_0) + pair_mid + list(token_ids_1) + pair_post

    # ----- decoding -------------------------------------------------------------------------------
    def decode(self, token_ids, skip_special_tokens=False):
        ids = [int(i) for i in (token_ids.tolist() if hasattr(token_ids, "tolist") else token_ids)]
        self._check_ids(ids)
        return self.backend_tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)

    def batch_decode(self, sequences, skip_special_tokens=False):
        seqs = [[int(i) for i in (s.tolist() if hasattr(s, "tolist") else s)] for s in sequences]
        for s in seqs:
            self._check_ids(s)
        return self.backend_tokenizer.decode_batch(seqs, skip_special_tokens=skip_special_tokens)

    def _init_config(self):
        return super()._init_config() if self._flags else {}

    def _save_vocabulary(self, folder):
        path = folder / "tokenizer.json"
        with atomic_write(path) as f:
            f.write(self.backend_tokenizer.to_str(pretty=True))
        return [path]


def _find(seq, sub, start=0):
    for i in range(start, len(seq) - len(sub) + 1):
        if seq[i:i + len(sub)] == sub:
            return i
    raise TokenizerError("cannot find the text's tokens in the post-processor's output")


class LlamaTokenizerFast(PreTrainedTokenizerFast):
    """Llama 2 / Mistral on ``tokenizers``: a ``tokenizer.json``, or a SentencePiece ``tokenizer.model``
    converted on load. ``add_bos_token``/``add_eos_token`` decide the special tokens, as in LlamaTokenizer."""

    vocab_files_names = {"tokenizer_file": "tokenizer.json", "vocab_file": "tokenizer.model"}
    special_defaults = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<unk>"}

    def __init__(self, vocab_file=None, tokenizer_file=None, add_bos_token=True, add_eos_token=False, legacy=True,
                 **kwargs):
        self.legacy = bool(legacy)
        super().__init__(tokenizer_file, vocab_file, add_bos_token=add_bos_token, add_eos_token=add_eos_token,
                         **kwargs)

    def _backend(self, tokenizer_file, vocab_file, kwargs):
        if tokenizer_file is None and vocab_file is not None and not str(vocab_file).endswith(".json"):
            from mf_tokenizers.convert import sentencepiece_to_tokenizer

            return sentencepiece_to_tokenizer(vocab_file, legacy=self.legacy)
        return super()._backend(tokenizer_file, vocab_file, kwargs)

    def _init_config(self):
        return {**super()._init_config(), "legacy": self.legacy}


class GPT2TokenizerFast(PreTrainedTokenizerFast):
    """GPT-2 on ``tokenizers``: a ``tokenizer.json``, ``vocab.json`` + ``merges.txt``, or a tiktoken
    ranks file (``vocab_file``, converted on load; equal to tiktoken with GPT-2's pattern)."""

    vocab_files_names = {"tokenizer_file": "tokenizer.json", "vocab_file": "vocab.json", "merges_file": "merges.txt"}
    special_defaults = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
                        "pad_token": None}

    def __init__(self, vocab_file=None, merges_file=None, tokenizer_file=None, **kwargs):
        self._merges_file = merges_file
        super().__init__(tokenizer_file, vocab_file, **kwargs)

    def _backend(self, tokenizer_file, vocab_file, kwargs):
        if tokenizer_file is None and vocab_file is not None and not str(vocab_file).endswith("tokenizer.json"):
            from mf_tokenizers.convert import byte_level_bpe
            from mf_tokenizers.gpt2 import vocab_and_merges

            vocab, merges, from_tiktoken = vocab_and_merges(vocab_file, self._merges_file)
            specials = {"<|endoftext|>": len(vocab)} if "<|endoftext|>" not in vocab else None
            return byte_level_bpe(vocab, merges, GPT2_PATTERN, specials, ignore_merges=from_tiktoken)
        return super()._backend(tokenizer_file, vocab_file, kwargs)


class BloomTokenizerFast(PreTrainedTokenizerFast):
    """Bloom's tokenizer: any ``tokenizer.json`` with Bloom's special tokens as defaults."""

    special_defaults = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}
