"""``PreTrainedModel`` (config, save/load, parameter count) and ``CausalLM``: the call contract and the KV cache.

Call contract (as MindFormers' ``construct``): in inference mode (``set_train(False)``) ``model(input_ids)``
returns float32 logits (batch, seq, vocab); in training mode ``model(input_ids, labels=None)`` returns the
scalar loss of predicting ``input_ids[:, 1:]`` (or ``labels[:, 1:]``) from ``input_ids[:, :-1]``, masked where
the label is ``ignore_token_id`` or the input token is ``pad_token_id``, plus the MoE auxiliary loss.

Incremental decoding (static shapes, so graph mode compiles one prefill and one decode graph per generation)::

    model.set_train(False)
    logits = model.prefill(input_ids, valid_length=[5, 3], left_padding=False, max_length=64)  # (b, s, V)
    logits = model.decode(next_ids)      # next_ids (b, 1) int -> (b, 1, V); repeat
    model.reset_cache()                  # or init_cache(batch_size, max_length)
"""

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mindspore as ms
import numpy as np
from mindspore import Tensor, nn, ops

from mf_config import PretrainedConfig
from mf_config.fileio import atomic_files
from mf_models.cells import CrossEntropyLoss
from mf_models.decoding import DecodeSession, DecodeSessions, IdsLike, KVCache, used_first, valid_lengths
from mf_models.dtypes import dtypes, int_tensor
from mf_models.errors import ModelError
from mf_models.masks import positions_and_bias, start_offset
from mf_models.runtime import usable_cores
from mf_models.weights import load_weights

logger = logging.getLogger("mf_models")
# MindFormers switches for fused Ascend kernels, dynamic shapes and its own cache; mf-models runs one plain path
# (the KV cache is the explicit prefill/decode API), so a config that turns them on is told so by key name
NOT_HONOURED = ("use_flash_attention", "use_prompt_flash_attention", "use_ring_attention", "fused_rms_norm",
                "qkv_concat", "use_rope_slice", "use_attn_mask_compression", "is_dynamic", "use_past",
                "hf_sliding_window")  # the last: an HF key kept by mf_config.hf (Mistral's sliding window) that
# these networks do not implement
WEIGHTS_NAME = "model.safetensors"
CKPT_NAME = "model.ckpt"


class PreTrainedModel(nn.Cell):
    """A network that holds its config; ``save_pretrained`` / ``from_pretrained`` / ``num_parameters``."""

    config_class = None

    def __init__(self, config: PretrainedConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else self.config_class()

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of scalar parameters (a tied table counts once)."""
        params = self.trainable_params() if trainable_only else self.get_parameters()
        return sum(int(np.prod(p.shape)) for p in params)

    def save_pretrained(self, directory: str | os.PathLike, format: str = "safetensors") -> Path:
        """Write ``config.json`` and ``model.safetensors`` (or ``model.ckpt`` with ``format="ckpt"``) into
        ``directory``, published together (mf_config.fileio.atomic_files); returns the weights' path."""
        if format not in ("safetensors", "ckpt"):
            raise ModelError(f"unknown weights format '{format}'; expected safetensors or ckpt", key="format")
        target = Path(directory) / (WEIGHTS_NAME if format == "safetensors" else CKPT_NAME)
        with atomic_files(target) as stage:  # config.json and the weights appear together, or neither
            self.config.save_pretrained(stage)
            ms.save_checkpoint(self, str(stage / target.name), format=format)
        return target

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, config: PretrainedConfig | None = None,
                        dtype: str | None = None) -> "PreTrainedModel":
        """The model saved in ``directory`` (config.json plus model.safetensors or model.ckpt), or a Hugging
        Face folder of this family (its weights loaded through the family's rules); see
        ``AutoModel.from_pretrained``."""
        from mf_models.auto import pretrained

        directory = Path(directory)
        if config is None:
            config = cls.config_class.from_pretrained(directory)
        return pretrained(config, directory, network=cls, dtype=dtype)

    def load_weights(self, path: str | os.PathLike, hf: bool | None = None) -> None:
        """Load weights from a folder or a .safetensors/.ckpt/.bin file: ours (MindFormers' names) or Hugging
        Face's (moved through the family's rules), in any float dtype (cast to the parameters'). ``hf``: whether
        the names are Hugging Face's; by default, whether the folder (or the file's folder) holds a Hugging Face
        config.json. Every difference from the config is named before any tensor is read (``mf_models.weights``)."""
        load_weights(self, path, hf)


class CausalLM(PreTrainedModel):
    """Base of the causal LMs. A subclass defines the per-family hook ``compute_logits(input_ids, positions,
    bias, caches=None, write=None, last=None) -> (logits float32, kv tuple (k0, v0, k1, v1, ...), aux loss)``
    (positions and bias from ``positions_and_bias``; in a decode step the cache Parameters and the rows
    ``write`` that get the new keys/values, from ``decode_positions``; with ``last`` (b,), logits (b, 1, V) of
    column ``last[r]`` of each row only; with ``head=False`` the final hidden state (b, s, H) in place of the
    logits) and sets ``cache_heads``, ``cache_dim``, ``num_layers``, ``max_positions``, ``compute_dtype``;
    ``uses_positions = False`` if it ignores ``positions``; ``head_weight()`` returns the head's (V, H) table
    (None: the decode graph always applies the head itself).

    The network holds no generation state: a ``DecodeSession`` holds the KV cache and its graphs.
    ``prefill``/``decode``/``init_cache``/``reset_cache``/``kv_cache`` work on the sessions the model keeps for
    the last ``KEPT_CACHES`` shapes (``decode_sessions``)."""

    uses_positions = True

    KEPT_CACHES = 3  # sessions (with their compiled graphs) kept for the most recent (batch, max_length) shapes

    def __init__(self, config: PretrainedConfig | None = None) -> None:
        super().__init__(config)
        ignored = [k for k in NOT_HONOURED if getattr(self.config, k, False)]
        if ignored:
            logger.warning("%s: config keys not honoured (mf-models runs its plain path): %s",
                           type(self).__name__, ", ".join(ignored))
        self.loss = CrossEntropyLoss()
        self.ignore_token_id = self.config.ignore_token_id
        self.pad_token_id = self.config.pad_token_id
        object.__setattr__(self, "decode_sessions", DecodeSessions(self, self.KEPT_CACHES))
        object.__setattr__(self, "generation_config", None)  # a loaded folder's generation_config.json (a dict)

    def construct(self, input_ids, labels=None):
        if not self.training:
            return used_first(self.forward_sequence(input_ids))
        tokens = input_ids[:, :-1]
        labels = input_ids[:, 1:] if labels is None else labels[:, 1:]
        logits, kv, aux = self.forward_sequence(tokens)
        mask = ops.logical_and(labels != self.ignore_token_id, tokens != self.pad_token_id)
        return used_first((self.loss(logits, labels, mask) + aux, kv))

    def forward_sequence(self, input_ids, start=None, offset=None, last=None, head=True):
        """``compute_logits`` over whole sequences (the full forward and the prefill), its position inputs
        computed in the graph: token ``t`` of row ``r`` in slot ``start[r] + t`` (default 0), slots before
        ``offset[r]`` (default 0) left padding."""
        b, s = input_ids.shape
        start, offset = start_offset(b, start, offset)
        positions, bias = positions_and_bias(b, s, s, start, offset)
        return self.compute_logits(input_ids, positions, bias, last=last, head=head)

    # -- MindFormers' generation contract ---------------------------------------------------------
    def prepare_inputs_for_generation(self, input_ids: np.ndarray | Sequence[Sequence[int]],
                                      **kwargs: Any) -> dict[str, Tensor]:
        """MindFormers' hook: the ``construct`` inputs for the ids so far (full-forward path)."""
        return {"input_ids": Tensor(np.asarray(input_ids), ms.int32)}

    def prepare_inputs_for_predict_layout(self, input_ids: np.ndarray | Sequence[Sequence[int]],
                                          **kwargs: Any) -> tuple[Tensor]:
        """MindFormers' hook: example inputs of ``construct`` (for compiling a predict layout)."""
        return (Tensor(np.asarray(input_ids), ms.int32),)

    # -- KV cache: delegates to the kept decode sessions --------------------------------------------
    def decode_session(self, batch_size: int, max_length: int | None = None) -> DecodeSession:
        """A new ``DecodeSession`` of the caller's own (not kept by the model): ``batch_size`` rows of up to
        ``max_length`` tokens (default ``config.seq_length``)."""
        return DecodeSession(self, batch_size, max_length or self.config.seq_length)

    @property
    def kv_cache(self) -> KVCache | None:
        """The current session's cache (None before the first ``prefill`` or ``init_cache``)."""
        current = self.decode_sessions.current
        return None if current is None else current.cache

    def init_cache(self, batch_size: int, max_length: int | None = None) -> KVCache:
        """Make ``batch_size`` rows of up to ``max_length`` tokens (default ``config.seq_length``) the current
        cache, zeroed; returns the ``KVCache``."""
        session = self.decode_sessions.use(batch_size, max_length or self.config.seq_length)
        session.reset()
        return session.cache

    def reset_cache(self) -> None:
        """Forget the current generation (the cache is zeroed and kept for its batch size and length)."""
        if self.decode_sessions.current is not None:
            self.decode_sessions.current.reset()

    def prefill(self, input_ids: IdsLike, valid_length: np.ndarray | Tensor | Sequence[int] | None = None,
                left_padding: bool = False, max_length: int | None = None, last_only: bool = False) -> Tensor:
        """``DecodeSession.prefill`` on the kept session of this batch size and ``max_length`` (default: the
        current session's, else ``config.seq_length``), which becomes current."""
        input_ids = int_tensor(input_ids)
        b, s = input_ids.shape
        valid_lengths(valid_length, b, s)
        current = self.decode_sessions.current
        max_length = max_length or (current.cache.max_length if current else None) or self.config.seq_length
        if s > max_length:
            raise ModelError(f"prompt length {s} exceeds the cache's max_length {max_length}", key="max_length")
        session = self.decode_sessions.use(b, max_length)  # the prefill overwrites every slot: no zeroing
        return session.prefill(input_ids, valid_length, left_padding, last_only)

    def decode(self, next_ids: IdsLike, slots: np.ndarray | Sequence[int] | None = None) -> Tensor:
        """``DecodeSession.decode`` on the current session."""
        current = self.decode_sessions.current
        if current is None:
            raise ModelError("decode() before prefill(): no cache", key="kv_cache")
        return current.decode(next_ids, slots)

    def head_weight(self) -> ms.Parameter | None:
        """The output head's (vocab, hidden) table; None when the family does not say (see ``host_head``)."""
        return None

    def host_head(self) -> ms.Parameter | None:
        """The head table when decode steps apply it on the host (``DecodeSession``), else None.

        On one core MindSpore's CPU backend streams a large table through a one-row product at about two thirds
        of numpy's (OpenBLAS) rate: the small benchmark Llama's head (32000 x 512) took 8-9 ms of a 17 ms one-core
        decode step, numpy 5 ms. So where the process runs on one core (``runtime.usable_cores``), for a float32
        table of the whole vocabulary (not one a parallel plan split, not one cast to another compute dtype), the
        decode graph (and a ``last_only`` prefill's) ends at the final hidden state and the host applies the head
        to that one row per sequence. With more cores MindSpore's kernel shares the table over them and OpenBLAS's
        threads contend with MindSpore's pool (two cores: 122 tokens/s in the graph, 86 on the host with OpenBLAS
        on one thread, 47-49 with its default two; ``runtime_num_threads: 1`` alone does not keep MindSpore's
        kernels on one core); the full prefill, the forward and training keep the head in the graph everywhere."""
        table = self.head_weight()
        if table is None or ms.get_context("device_target") != "CPU" or usable_cores() != 1 or \
                type(self).tied_logits is not CausalLM.tied_logits:  # mf_parallel's head gathers the ranks' parts
            return None
        whole = tuple(table.shape) == (self.config.vocab_size, self.config.hidden_size)
        return table if whole and table.dtype == ms.float32 and self.compute_dtype == ms.float32 else None

    def tied_logits(self, hidden, table):
        """Logits from a tied embedding table (vocab, hidden), float32."""
        b, s, h = hidden.shape
        logits = ops.MatMul(transpose_b=True)(hidden.reshape(-1, h), ops.cast(table, hidden.dtype))
        return ops.cast(logits, ms.float32).reshape(b, s, -1)


class TiedEmbeddingLM(CausalLM):
    """GPT-2/Bloom: a backbone (registered under MindFormers' attribute ``name``) whose
    ``embedding.word_embedding`` table is also the output head."""

    def __init__(self, config: PretrainedConfig | None, name: str, backbone_cls: type[nn.Cell]) -> None:
        super().__init__(config)
        config = self.config
        setattr(self, name, backbone_cls(config))
        self._body = name
        self.num_layers = config.num_layers
        self.cache_heads, self.cache_dim = config.num_heads, config.head_dim
        self.max_positions = config.seq_length
        self.compute_dtype = dtypes(config)[1]

    def head_weight(self) -> ms.Parameter:
        """The tied word embedding table (vocab, hidden)."""
        return getattr(self, self._body).embedding.word_embedding.embedding_table

    def compute_logits(self, input_ids, positions, bias, caches=None, write=None, last=None, head=True):
        """Logits (b, s, V) float32 from the tied word embedding (or the hidden state, ``head=False``), per-layer
        keys/values and a zero aux loss; see ``CausalLM``."""
        body = getattr(self, self._body)
        h, kv = body(input_ids, positions, bias, caches, write)
        if last is not None:
            h = select_columns(h, last)
        logits = self.tied_logits(h, body.embedding.word_embedding.embedding_table) if head else h
        return logits, kv, ops.zeros((), ms.float32)


def select_columns(h, columns):
    """(b, 1, H): column ``columns[r]`` of each row of ``h`` (b, s, H)."""
    b, s, hidden = h.shape
    rows = ops.arange(b, dtype=ms.int32) * s + columns
    return ops.gather(h.reshape(b * s, hidden), rows, 0).reshape(b, 1, hidden)
