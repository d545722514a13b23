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
from pathlib import Path

import mindspore as ms
import numpy as np
from mindspore import Tensor, nn, ops

from mf_config.fileio import atomic_files, settle
from mf_config.pretrained import CONFIG_NAME
from mf_models.config_files import ModelError
from mf_models.layers import (
    CrossEntropyLoss,
    decode_positions,
    dtypes,
    int_tensor,
    positions_and_bias,
    select_columns,
    start_offset,
)

logger = logging.getLogger("mf_models")
# MindFormers switches for fused Ascend kernels, dynamic shapes and its own cache; mf-models runs one plain path
# (the KV cache is the explicit prefill/decode API), so a config that turns them on is told so by key name
NOT_HONOURED = ("use_flash_attention", "use_prompt_flash_attention", "use_ring_attention", "fused_rms_norm",
                "qkv_concat", "use_rope_slice", "use_attn_mask_compression", "is_dynamic", "use_past",
                "hf_rope_scaling", "hf_sliding_window")  # the last two: HF keys kept by mf_config.hf (Llama 3.1
# "llama3" rope scaling, Mistral's sliding window) that these networks do not implement
WEIGHTS_NAME = "model.safetensors"
CKPT_NAME = "model.ckpt"


class PreTrainedModel(nn.Cell):
    """A network that holds its config; ``save_pretrained`` / ``from_pretrained`` / ``num_parameters``."""

    config_class = None

    def __init__(self, config=None):
        super().__init__()
        self.config = config if config is not None else self.config_class()

    def num_parameters(self, trainable_only=False):
        """Number of scalar parameters (a tied table counts once)."""
        params = self.trainable_params() if trainable_only else self.get_parameters()
        return sum(int(np.prod(p.shape)) for p in params)

    def save_pretrained(self, directory, format="safetensors"):
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
    def from_pretrained(cls, directory, config=None):
        """The model saved in ``directory`` (config.json plus model.safetensors or model.ckpt)."""
        directory = Path(directory)
        if config is None:
            config = cls.config_class.from_pretrained(directory / CONFIG_NAME)
        model = cls(config)
        model.load_weights(directory)
        return model

    def load_weights(self, path):
        """Load weights from a folder or a .safetensors/.ckpt file; every name must match exactly."""
        path = Path(path)
        if path.is_dir():
            found = [path / n for n in (WEIGHTS_NAME, CKPT_NAME) if (path / n).is_file()]
            if not found:
                raise ModelError(f"no {WEIGHTS_NAME} or {CKPT_NAME} in the folder", file=path)
            path = found[0]
        if not path.is_file():
            raise ModelError("no such weights file", file=path)
        settle(path)  # finish a save_pretrained that a crash interrupted after its commit point
        fmt = "safetensors" if path.suffix == ".safetensors" else "ckpt"
        if fmt == "safetensors":
            _check_safetensors(path)
        params = ms.load_checkpoint(str(path), format=fmt)
        own = {p.name: p for p in self.get_parameters()}
        missing = sorted(set(own) - set(params))
        unexpected = sorted(set(params) - set(own))
        if missing or unexpected:
            raise ModelError(f"parameter names differ from {type(self).__name__}'s: missing {missing[:5]}, "
                             f"unexpected {unexpected[:5]}", file=path)
        for name, value in params.items():
            if tuple(value.shape) != tuple(own[name].shape):
                raise ModelError(f"shape {tuple(value.shape)} != expected {tuple(own[name].shape)}", file=path,
                                 key=name)
            if value.dtype != own[name].dtype:
                raise ModelError(f"dtype {value.dtype} in the checkpoint, {own[name].dtype} in the model (the "
                                 "config's param_init_type): set it to the checkpoint's or cast the checkpoint "
                                 "(mf-ckpt cast)", file=path, key=name)
        ms.load_param_into_net(self, params, strict_load=True)


def _check_safetensors(path):
    """The header checked by the ``safetensors`` library (offsets in bounds, contiguous, not aliased), which
    MindSpore's own reader does not do."""
    import safetensors

    try:
        with safetensors.safe_open(str(path), "numpy"):
            pass
    except Exception as e:  # noqa: BLE001 - the library's SafetensorError and friends
        raise ModelError(f"not a valid safetensors file ({str(e)[:200]})", file=path) from None


def used_first(outputs):
    """``outputs[0]``, the others marked used: MindSpore 2.10 warns "Some side effect nodes were eliminated
    by mistake" (a page of it per graph) for each discarded output of a call that writes or reads
    Parameters."""
    return ops.depend(outputs[0], outputs[1:])


class _Prefill(nn.Cell):
    """Graph of the first step: the whole prompt; its keys/values, padded to the cache's length, are assigned
    to the cache Parameters. With ``last`` (b,) the head runs on column ``last[r]`` of each row only."""

    def __init__(self, net, cache, max_length):
        super().__init__(auto_prefix=False)
        self.net = net
        self.cache = cache
        self.max_length = max_length

    def construct(self, input_ids, offset, last=None):
        b, s = input_ids.shape
        logits, kv, aux = self.net.forward(input_ids, ops.zeros((b,), ms.int32), offset, last=last)
        for i in range(len(kv)):
            t = kv[i]
            pad = self.max_length - s
            if pad > 0:
                t = ops.cat((t, ops.zeros((b, t.shape[1], pad, t.shape[3]), t.dtype)), 2)
            ops.assign(self.cache[i], t.reshape(-1, t.shape[3]))
        return used_first((logits, aux))


class _Decode(nn.Cell):
    """Graph of one decode step: one token per row, its key/value written in place into the cache Parameters
    at the rows ``write``; the position inputs come from the host (``decode_positions``). ``positions`` is
    left out for a model that does not use them: an unused graph input cost MindSpore 2.10 about 0.5 ms a
    call on CPU."""

    def __init__(self, net, cache):
        super().__init__(auto_prefix=False)
        self.net = net
        self.cache = cache
        # MindSpore's fast path for LLM decoding: once compiled, a cell in phase "increment" runs its graph
        # without re-deriving the compile key from its inputs (their shapes are fixed for this cache)
        self.phase = "increment"

    def construct(self, input_ids, bias, write, positions=None):
        return used_first(self.net.run(input_ids, positions, bias, self.cache, write))


class KVCache:
    """The state of one generation: per-layer key/value Parameters, each (b * kv_heads * max_length, head_dim)
    (row-major (b, kv_heads, max_length): ``.reshape(b, kv_heads, max_length, head_dim)`` views it), updated in
    place by the prefill and decode graphs; ``offset`` (b,) left-padding slots per row, ``next_slot`` (b,)
    where each row's next token goes and ``last_index`` (b,): the column of each row's last prompt token in the
    prefill logits."""

    def __init__(self, tensors, batch_size, max_length):
        self.tensors = tensors
        self.batch_size = batch_size
        self.max_length = max_length
        self._forget()

    def _forget(self):
        self.offset = np.zeros(self.batch_size, np.int32)
        self.next_slot = self.offset.copy()
        self.last_index = self.next_slot - 1

    def zero(self):
        """Zero the keys/values and forget the rows' positions."""
        for t in self.tensors:
            t.set_data(ops.zeros(t.shape, t.dtype))
        self._forget()


class CausalLM(PreTrainedModel):
    """Base of the four causal LMs. A subclass defines ``run(input_ids, positions, bias, caches=None,
    write=None, last=None) -> (logits float32, kv tuple (k0, v0, k1, v1, ...), aux loss)`` (positions and
    bias from ``positions_and_bias``; in a decode step the cache Parameters and the rows ``write`` that get
    the new keys/values, from ``decode_positions``; with ``last`` (b,), logits (b, 1, V) of column ``last[r]``
    of each row only) and sets ``cache_heads``, ``cache_dim``, ``num_layers``, ``max_positions``,
    ``compute_dtype``; ``uses_positions = False`` if ``run`` ignores ``positions``."""

    uses_positions = True

    KEPT_CACHES = 3  # caches (with their compiled graphs) kept for the most recent (batch, max_length) shapes

    def __init__(self, config=None):
        super().__init__(config)
        ignored = [k for k in NOT_HONOURED if getattr(self.config, k, False)]
        if ignored:
            logger.warning("%s: config keys not honoured (mf-models runs its plain path): %s",
                           type(self).__name__, ", ".join(ignored))
        self.loss = CrossEntropyLoss()
        self.ignore_token_id = self.config.ignore_token_id
        self.pad_token_id = self.config.pad_token_id
        object.__setattr__(self, "kv_cache", None)
        object.__setattr__(self, "_caches", {})  # (batch, max_length) -> (KVCache, {kind: graph cell})

    def construct(self, input_ids, labels=None):
        if not self.training:
            return used_first(self.forward(input_ids))
        tokens = input_ids[:, :-1]
        labels = input_ids[:, 1:] if labels is None else labels[:, 1:]
        logits, kv, aux = self.forward(tokens)
        mask = ops.logical_and(labels != self.ignore_token_id, tokens != self.pad_token_id)
        return used_first((self.loss(logits, labels, mask) + aux, kv))

    def forward(self, input_ids, start=None, offset=None, last=None):
        """``run`` over whole sequences (the full forward and the prefill), its position inputs computed in the
        graph: token ``t`` of row ``r`` in slot ``start[r] + t`` (default 0), slots before ``offset[r]``
        (default 0) left padding."""
        b, s = input_ids.shape
        start, offset = start_offset(b, start, offset)
        positions, bias = positions_and_bias(b, s, s, start, offset)
        return self.run(input_ids, positions, bias, last=last)

    # -- MindFormers' generation contract ---------------------------------------------------------
    def prepare_inputs_for_generation(self, input_ids, **kwargs):
        """MindFormers' hook: the ``construct`` inputs for the ids so far (full-forward path)."""
        return {"input_ids": Tensor(np.asarray(input_ids), ms.int32)}

    def prepare_inputs_for_predict_layout(self, input_ids, **kwargs):
        """MindFormers' hook: example inputs of ``construct`` (for compiling a predict layout)."""
        return (Tensor(np.asarray(input_ids), ms.int32),)

    # -- KV cache ---------------------------------------------------------------------------------
    @property
    def _graphs(self):
        """The graph cells of the kept caches: {("prefill" | "prefill_last" | "decode", batch, max_length): cell}."""
        return {(kind, *shape): cell for shape, (_, cells) in self._caches.items() for kind, cell in cells.items()}

    def _cell(self, kind):
        """The current cache's graph cell of ``kind`` (made on first use; compiled on its first call)."""
        cache = self.kv_cache
        cells = self._caches[(cache.batch_size, cache.max_length)][1]
        if kind not in cells:
            cells[kind] = _Decode(self, cache.tensors) if kind == "decode" else \
                _Prefill(self, cache.tensors, cache.max_length)
        return cells[kind]

    def init_cache(self, batch_size, max_length=None):
        """Make ``batch_size`` rows of up to ``max_length`` tokens (default ``config.seq_length``) the current
        cache, zeroed; returns the ``KVCache``. The caches of the last ``KEPT_CACHES`` shapes are kept with
        their compiled graphs (a shape seen again compiles nothing)."""
        return self._use_cache(batch_size, max_length or self.config.seq_length, zero=True)

    def _use_cache(self, batch_size, max_length, zero):
        if max_length > self.max_positions:
            raise ModelError(f"max_length {max_length} exceeds the model's {self.max_positions} positions",
                             key="max_length")
        shape = (batch_size, max_length)
        if shape in self._caches:
            self._caches[shape] = self._caches.pop(shape)  # most recent last
            if zero:
                self._caches[shape][0].zero()
        else:
            while len(self._caches) >= self.KEPT_CACHES:
                self._caches.pop(next(iter(self._caches)))
            dims = (batch_size * self.cache_heads * max_length, self.cache_dim)
            tensors = ms.ParameterTuple(
                ms.Parameter(ops.zeros(dims, self.compute_dtype), name=f"kv_cache.{'kv'[i % 2]}.{i // 2}",
                             requires_grad=False)
                for i in range(2 * self.num_layers))
            self._caches[shape] = (KVCache(tensors, batch_size, max_length), {})
        object.__setattr__(self, "kv_cache", self._caches[shape][0])
        return self.kv_cache

    def reset_cache(self):
        """Forget the current generation (the cache is zeroed and kept for its batch size and length)."""
        if self.kv_cache is not None:
            self.kv_cache.zero()

    def prefill(self, input_ids, valid_length=None, left_padding=False, max_length=None, last_only=False):
        """Run the prompts and fill the cache; returns logits (b, s, V) of every position, or with
        ``last_only`` (b, 1, V) of each row's last prompt token (the head runs on those alone).

        ``input_ids`` (b, s) int, padded per row to s: on the right (default; row ``r``'s tokens are
        ``[:valid_length[r]]``, its last logits at ``valid_length[r] - 1``) or on the left (``left_padding``;
        tokens ``[s - valid_length[r]:]``, last logits at ``s - 1``). Makes the cache current for this batch
        size and ``max_length`` (default: the current cache's, else ``config.seq_length``).
        """
        input_ids = int_tensor(input_ids)
        b, s = input_ids.shape
        valid = np.full(b, s, np.int32) if valid_length is None else np.asarray(
            valid_length.asnumpy() if isinstance(valid_length, Tensor) else valid_length, np.int32).reshape(-1)
        if valid.shape != (b,) or valid.min() < 1 or valid.max() > s:
            raise ModelError(f"valid_length must hold {b} values in [1, {s}], got {valid.tolist()}",
                             key="valid_length")
        current = self.kv_cache
        max_length = max_length or (current.max_length if current else None) or self.config.seq_length
        if s > max_length:
            raise ModelError(f"prompt length {s} exceeds the cache's max_length {max_length}", key="max_length")
        cache = self._use_cache(b, max_length, zero=False)  # the prefill overwrites every slot
        offset = (s - valid) if left_padding else np.zeros(b, np.int32)
        next_slot = np.full(b, s, np.int32) if left_padding else valid.copy()
        inputs = (input_ids, Tensor(offset)) + ((Tensor(next_slot - 1),) if last_only else ())  # no unused input
        logits = self._cell("prefill_last" if last_only else "prefill")(*inputs)
        cache.offset = offset.astype(np.int32)
        cache.next_slot = next_slot
        cache.last_index = next_slot - 1
        return logits

    def decode(self, next_ids, slots=None):
        """Feed one token per row (``next_ids`` (b, 1) or (b,)); returns logits (b, 1, V).

        Each row's token goes into cache slot ``slots[r]`` (default: right after the row's last token, as
        tracked by the cache) and attends to the row's slots from its offset up to that slot.
        """
        cache = self.kv_cache
        if cache is None:
            raise ModelError("decode() before prefill(): no cache", key="kv_cache")
        if isinstance(next_ids, Tensor):
            next_ids = next_ids.asnumpy()
        next_ids = np.asarray(next_ids, np.int32).reshape(-1, 1)
        start = cache.next_slot if slots is None else np.asarray(slots, np.int32).reshape(-1)
        if next_ids.shape[0] != cache.batch_size or start.shape != (cache.batch_size,):
            raise ModelError(f"expected {cache.batch_size} rows, got {next_ids.shape[0]}", key="next_ids")
        if start.max() >= cache.max_length:
            raise ModelError(f"the cache is full ({cache.max_length} slots)", key="max_length")
        positions, bias, write = decode_positions(start, cache.offset, self.cache_heads, cache.max_length)
        inputs = (next_ids, bias, write) + ((positions,) if self.uses_positions else ())
        # from_numpy shares the arrays' memory (the Tensors keep them alive): 1 us each where Tensor() takes 10
        logits = self._cell("decode")(*(Tensor.from_numpy(np.ascontiguousarray(a)) for a in inputs))
        cache.next_slot = start + 1
        return logits

    def tied_logits(self, hidden, table):
        """Logits from a tied embedding table (vocab, hidden), float32."""
        b, s, h = hidden.shape
        logits = ops.MatMul(transpose_b=True)(hidden.reshape(-1, h), ops.cast(table, hidden.dtype))
        return ops.cast(logits, ms.float32).reshape(b, s, -1)


class TiedEmbeddingLM(CausalLM):
    """GPT-2/Bloom: a backbone (registered under MindFormers' attribute ``name``) whose
    ``embedding.word_embedding`` table is also the output head."""

    def __init__(self, config, name, backbone_cls):
        super().__init__(config)
        config = self.config
        setattr(self, name, backbone_cls(config))
        self.num_layers = config.num_layers
        self.cache_heads, self.cache_dim = config.num_heads, config.head_dim
        self.max_positions = config.seq_length
        self.compute_dtype = dtypes(config)[1]

    def tied_run(self, body, input_ids, positions, bias, caches, write, last):
        """``run`` through the backbone ``body``: logits (b, s, V) float32 from its tied word embedding,
        per-layer keys/values and a zero aux loss; see ``CausalLM``."""
        h, kv = body(input_ids, positions, bias, caches, write)
        if last is not None:
            h = select_columns(h, last)
        return self.tied_logits(h, body.embedding.word_embedding.embedding_table), kv, ops.zeros((), ms.float32)
