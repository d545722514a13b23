"""``LlamaTokenizer``: a SentencePiece ``tokenizer.model`` (Llama 2, Mistral, Mixtral), as in MindFormers."""

from mf_config.fileio import atomic_write
from mf_tokenizers.base import PreTrainedTokenizerBase
from mf_tokenizers.vocab_files import load_sentencepiece

SPIECE_UNDERLINE = "▁"


class LlamaTokenizer(PreTrainedTokenizerBase):
    """SentencePiece tokenizer. ``add_bos_token``/``add_eos_token`` say which special tokens
    ``tok(text)`` adds; ``legacy=True`` (MindFormers' default) gives text after a special token its own
    dummy-prefix space, as SentencePiece does for the start of a text. Batches are encoded by
    SentencePiece's own threads (``num_threads``, default: every core)."""

    vocab_files_names = {"vocab_file": "tokenizer.model"}
    special_defaults = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<unk>"}

    def __init__(self, vocab_file=None, add_bos_token=True, add_eos_token=False, legacy=True, **kwargs):
        self.vocab_file = str(vocab_file) if vocab_file is not None else None
        self.legacy = bool(legacy)
        self.sp_model = load_sentencepiece(vocab_file)
        super().__init__(add_bos_token=add_bos_token, add_eos_token=add_eos_token, **kwargs)

    def _base_vocab_size(self):
        return self.sp_model.get_piece_size()

    def _base_token_to_id(self, token):
        idx = self.sp_model.piece_to_id(token)
        if idx == self.sp_model.unk_id() and token != self.sp_model.id_to_piece(idx):
            return None
        return idx

    def _base_id_to_token(self, idx):
        return self.sp_model.id_to_piece(idx)

    def _encode_ordinary(self, texts):
        return self.sp_model.encode(texts, num_threads=self.num_threads)

    def _encode_chunk(self, text, at_start):
        if self.legacy or at_start:
            return self.sp_model.encode(text)
        # Hugging Face's non-legacy rule: no dummy prefix after a special token
        unk = self.sp_model.id_to_piece(self.sp_model.unk_id())
        return self.sp_model.encode(unk + text)[len(self.sp_model.encode(unk)):]

    def _encode_with_special_tokens(self, texts, split_special_tokens=None):
        bos, eos = self._bos_eos()
        sp = self.sp_model
        if bos not in ([], [sp.bos_id()]) or eos not in ([], [sp.eos_id()]):
            return super()._encode_with_special_tokens(texts, split_special_tokens)
        # SentencePiece adds its own bos/eos in C++; texts holding special tokens are redone
        out = sp.encode(texts, add_bos=bool(bos), add_eos=bool(eos), num_threads=self.num_threads)
        split = self.split_special_tokens if split_special_tokens is None else split_special_tokens
        rx = self._split_regex(split)
        if rx is not None:
            for i, text in enumerate(texts):
                if rx.search(text):
                    out[i] = bos + self._encode_split(text, rx) + eos
        return out

    def _decode_run(self, ids, first):
        text = self.sp_model.decode(ids)
        if not first and self.sp_model.id_to_piece(ids[0]).startswith(SPIECE_UNDERLINE):
            text = " " + text
        return text

    def _init_config(self):
        return {**super()._init_config(), "legacy": self.legacy}

    def _save_vocabulary(self, folder):
        path = folder / self.vocab_files_names["vocab_file"]
        with atomic_write(path, "wb") as f:
            f.write(self.sp_model.serialized_model_proto())
        return [path]
