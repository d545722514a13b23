"""Incremental decoding: a ``DecodeSession`` owns one generation's KV cache and the graphs that fill and extend it.

The network stays stateless: ``_Prefill`` and ``_Decode`` are graph cells that run the network's
``forward_sequence`` / ``compute_logits`` with the session's cache Parameters. Static shapes: graph mode compiles
one prefill and one decode graph per session (batch size, max_length), whatever the number of steps; a decode
step attends over the cache, it never recomputes the prefix.

What keeps a step fast on MindSpore's CPU backend (each measured; see the mf-models README):
- the decode step's positions, mask and cache rows come from the host (``masks.decode_positions``): a dozen
  small kernels fewer, each of which costs more to launch than to run;
- no graph takes an input it does not use (Bloom's decode graph gets no positions, a full prefill no
  ``last``): an unused input cost MindSpore 2.10 about 0.5 ms a call;
- the decode cell runs in MindSpore's ``"increment"`` phase, which skips re-deriving the compile key;
- inputs are handed over with ``Tensor.from_numpy`` (1 us) rather than ``Tensor()`` (10 us);
- graphs mark their unused outputs used (``used_first``), or MindSpore prints pages of warnings;
- in a process on one core, the decode graph stops at the final hidden state and numpy applies a float32 head
  to it (``CausalLM.host_head``): there MindSpore's one-row product streams the table at about two thirds of
  OpenBLAS's rate.

The graphs are ``CompiledCell``s: compiled in MindSpore's PyNative mode too (``mf_models.compiled``).
"""

from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import mindspore as ms
import numpy as np
from mindspore import Tensor, nn, ops

from mf_models.compiled import CompiledCell
from mf_models.dtypes import int_tensor
from mf_models.errors import ModelError
from mf_models.masks import decode_positions

if TYPE_CHECKING:
    from mf_models.modeling import CausalLM

IdsLike = np.ndarray | Tensor | Sequence[int] | Sequence[Sequence[int]]  # token ids: rows (b, s), or (b,)


def used_first(outputs):
    """``outputs[0]``, the others marked used: MindSpore 2.10 warns "Some side effect nodes were eliminated
    by mistake" (a page of it per graph) for each discarded output of a call that writes or reads
    Parameters."""
    return ops.depend(outputs[0], outputs[1:])


class _Prefill(CompiledCell):
    """Graph of the first step: the whole prompt; its keys/values, padded to the cache's length, are assigned
    to the cache Parameters. With ``last`` (b,) the head runs on column ``last[r]`` of each row only, and
    without ``head`` the graph returns that column's hidden state (b, 1, H)."""

    def __init__(self, net, cache, max_length, head=True):
        super().__init__(auto_prefix=False)
        self.net = net
        self.cache = cache
        self.max_length = max_length
        self.head = head

    def construct(self, input_ids, offset, last=None):
        b, s = input_ids.shape
        logits, kv, aux = self.net.forward_sequence(input_ids, ops.zeros((b,), ms.int32), offset, last=last,
                                                    head=self.head)
        for i in range(len(kv)):
            t = kv[i]
            pad = self.max_length - s
            if pad > 0:
                t = ops.cat((t, ops.zeros((b, t.shape[1], pad, t.shape[3]), t.dtype)), 2)
            ops.assign(self.cache[i], t.reshape(-1, t.shape[3]))
        return used_first((logits, aux))


class _Decode(CompiledCell):
    """Graph of one decode step: one token per row, its key/value written in place into the cache Parameters
    at the rows ``write``; the position inputs come from the host (``decode_positions``). ``positions`` is
    left out for a model that does not use them. Without ``head`` it returns the final hidden state (b, 1, H)."""

    def __init__(self, net, cache, head=True):
        super().__init__(auto_prefix=False)
        self.net = net
        self.cache = cache
        self.head = head
        # MindSpore's fast path for LLM decoding: once compiled, a cell in phase "increment" runs its graph
        # without re-deriving the compile key from its inputs (their shapes are fixed for this cache)
        self.phase = "increment"

    def construct(self, input_ids, bias, write, positions=None):
        return used_first(self.net.compute_logits(input_ids, positions, bias, self.cache, write, head=self.head))


class _Forward(CompiledCell):
    """Graph of the whole-sequence forward (``model(input_ids)``: logits in inference mode, the loss in training
    mode)."""

    def __init__(self, net):
        super().__init__(auto_prefix=False)
        self.net = net

    def construct(self, input_ids):
        return self.net(input_ids)


class KVCache:
    """The state of one generation: per-layer key/value Parameters, each (b * kv_heads * max_length, head_dim)
    (row-major (b, kv_heads, max_length): ``.reshape(b, kv_heads, max_length, head_dim)`` views it), updated in
    place by the prefill and decode graphs; ``offset`` (b,) left-padding slots per row, ``next_slot`` (b,)
    where each row's next token goes and ``last_index`` (b,): the column of each row's last prompt token in the
    prefill logits."""

    def __init__(self, tensors: ms.ParameterTuple, batch_size: int, max_length: int) -> None:
        self.tensors = tensors
        self.batch_size = batch_size
        self.max_length = max_length
        self._forget()

    def _forget(self):
        self.offset = np.zeros(self.batch_size, np.int32)
        self.next_slot = self.offset.copy()
        self.last_index = self.next_slot - 1

    def zero(self) -> None:
        """Zero the keys/values and forget the rows' positions."""
        for t in self.tensors:
            t.set_data(ops.zeros(t.shape, t.dtype))
        self._forget()


class DecodeSession:
    """One generation of ``model`` (a ``CausalLM``): a KV cache of ``batch_size`` rows of ``max_length`` slots
    and its graphs (``graphs``: {"prefill" | "prefill_last" | "decode": cell}, each compiled on first use).
    ``prefill`` the prompts, then ``decode`` one token per row per step; ``reset`` for the next generation of
    the same shape (the compiled graphs are kept)."""

    def __init__(self, model: "CausalLM", batch_size: int, max_length: int) -> None:
        if max_length > model.max_positions:
            raise ModelError(f"max_length {max_length} exceeds the model's {model.max_positions} positions",
                             key="max_length")
        self.model = model
        dims = (batch_size * model.cache_heads * max_length, model.cache_dim)
        tensors = ms.ParameterTuple(
            ms.Parameter(ops.zeros(dims, model.compute_dtype), name=f"kv_cache.{'kv'[i % 2]}.{i // 2}",
                         requires_grad=False)
            for i in range(2 * model.num_layers))
        self.cache = KVCache(tensors, batch_size, max_length)
        self.graphs = {}
        self._heads, self._uses_positions = model.cache_heads, model.uses_positions  # read once, not per step
        self._host_head = model.host_head()
        self._table = None  # numpy's view of the host head's table, taken once per generation (``_logits``)

    def graph(self, kind: str) -> nn.Cell:
        """The graph cell of ``kind`` ("prefill", "prefill_last" or "decode"), made on first use."""
        if kind not in self.graphs:
            cache = self.cache
            head = self._host_head is None or kind == "prefill"  # the host applies it to one row per sequence
            self.graphs[kind] = _Decode(self.model, cache.tensors, head) if kind == "decode" else \
                _Prefill(self.model, cache.tensors, cache.max_length, head)
        return self.graphs[kind]

    def reset(self) -> None:
        """Forget the generation: zero the cache (its shape and compiled graphs stay)."""
        self.cache.zero()
        self._table = None

    def prefill(self, input_ids: IdsLike, valid_length: np.ndarray | Tensor | Sequence[int] | None = None,
                left_padding: bool = False, last_only: bool = False) -> Tensor:
        """Run the prompts and fill the cache; returns logits (b, s, V) of every position, or with
        ``last_only`` (b, 1, V) of each row's last prompt token (the head runs on those alone).

        ``input_ids`` (b, s) int, padded per row to s: on the right (default; row ``r``'s tokens are
        ``[:valid_length[r]]``, its last logits at ``valid_length[r] - 1``) or on the left (``left_padding``;
        tokens ``[s - valid_length[r]:]``, last logits at ``s - 1``).
        """
        input_ids = int_tensor(input_ids)
        b, s = input_ids.shape
        valid = valid_lengths(valid_length, b, s)
        cache = self.cache
        if b != cache.batch_size:
            raise ModelError(f"expected {cache.batch_size} rows, got {b}", key="input_ids")
        if s > cache.max_length:
            raise ModelError(f"prompt length {s} exceeds the cache's max_length {cache.max_length}",
                             key="max_length")
        offset = (s - valid) if left_padding else np.zeros(b, np.int32)
        next_slot = np.full(b, s, np.int32) if left_padding else valid.copy()
        inputs = (input_ids, Tensor(offset)) + ((Tensor(next_slot - 1),) if last_only else ())  # no unused input
        self._table = None  # weights may have been loaded since the last generation
        out = self.graph("prefill_last" if last_only else "prefill")(*inputs)
        cache.offset = offset.astype(np.int32)
        cache.next_slot = next_slot
        cache.last_index = next_slot - 1
        return self._logits(out) if last_only else out

    def decode(self, next_ids: IdsLike, slots: np.ndarray | Sequence[int] | None = None) -> Tensor:
        """Feed one token per row (``next_ids`` (b, 1) or (b,)); returns logits (b, 1, V).

        Each row's token goes into cache slot ``slots[r]`` (default: right after the row's last token, as
        tracked by the cache) and attends to the row's slots from its offset up to that slot.
        """
        cache = self.cache
        if isinstance(next_ids, Tensor):
            next_ids = next_ids.asnumpy()
        next_ids = np.asarray(next_ids, np.int32).reshape(-1, 1)
        start = cache.next_slot if slots is None else np.asarray(slots, np.int32).reshape(-1)
        if next_ids.shape[0] != cache.batch_size or start.shape != (cache.batch_size,):
            raise ModelError(f"expected {cache.batch_size} rows, got {next_ids.shape[0]}", key="next_ids")
        if start.max() >= cache.max_length:
            raise ModelError(f"the cache is full ({cache.max_length} slots)", key="max_length")
        positions, bias, write = decode_positions(start, cache.offset, self._heads, cache.max_length)
        inputs = (next_ids, bias, write) + ((positions,) if self._uses_positions else ())
        # from_numpy shares the arrays' memory (the Tensors keep them alive): 1 us each where Tensor() takes 10
        graph = self.graphs.get("decode") or self.graph("decode")
        out = graph(*(Tensor.from_numpy(np.ascontiguousarray(a)) for a in inputs))
        cache.next_slot = start + 1
        return self._logits(out)

    def _logits(self, out):
        """Logits (b, 1, V) from a one-row-per-sequence graph's output: its own, or, with a host head, its hidden
        state (b, 1, H) times the head's table in numpy."""
        if self._host_head is None:
            return out
        if self._table is None:
            self._table = self._host_head.asnumpy()  # on CPU a view of the Parameter's memory, not a copy
        return Tensor.from_numpy(np.matmul(out.asnumpy(), self._table.T))


def valid_lengths(valid_length, batch: int, seq: int) -> np.ndarray:
    """``valid_length`` as (b,) int32 in [1, seq] (all ``seq`` when None); ModelError otherwise."""
    valid = np.full(batch, seq, np.int32) if valid_length is None else np.asarray(
        valid_length.asnumpy() if isinstance(valid_length, Tensor) else valid_length, np.int32).reshape(-1)
    if valid.shape != (batch,) or valid.min() < 1 or valid.max() > seq:
        raise ModelError(f"valid_length must hold {batch} values in [1, {seq}], got {valid.tolist()}",
                         key="valid_length")
    return valid


class DecodeSessions:
    """The sessions of the last ``kept`` shapes (batch, max_length) of one model, with their compiled graphs (a
    shape seen again compiles nothing); ``current`` is the one ``CausalLM.prefill``/``decode`` use."""

    def __init__(self, model, kept: int):
        self.model = model
        self.kept = kept
        self._sessions = OrderedDict()
        self.current = None
        self._forward = None

    def use(self, batch_size: int, max_length: int) -> DecodeSession:
        """The session of this shape (made, or the kept one), now current and most recent."""
        shape = (batch_size, max_length)
        if shape in self._sessions:
            self._sessions.move_to_end(shape)
        else:
            session = DecodeSession(self.model, batch_size, max_length)  # checks max_length first
            while len(self._sessions) >= self.kept:
                self._sessions.popitem(last=False)
            self._sessions[shape] = session
        self.current = self._sessions[shape]
        return self.current

    def forward_graph(self) -> nn.Cell:
        """The model's whole-sequence forward as a compiled graph cell (made once)."""
        if self._forward is None:
            self._forward = _Forward(self.model)
        return self._forward

    def graphs(self) -> dict:
        """{(kind, batch, max_length): graph cell} of every kept session."""
        return {(kind, *shape): cell for shape, s in self._sessions.items() for kind, cell in s.graphs.items()}

    def clear(self) -> None:
        """Drop every session and its graphs."""
        self._sessions.clear()
        self.current = None
        self._forward = None
