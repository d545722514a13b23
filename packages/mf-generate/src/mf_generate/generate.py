"""``generate``: MindFormers' ``model.generate`` for the causal LMs of mf-models, with a static KV cache.

With ``use_past`` the prompts run once (``model.prefill``, rows padded on the right to the longest) and
each further token is one ``model.decode`` step on the cache: two compiled graphs per generation. Without
it every step recomputes all positions of a fixed-size window (one graph; kept for checking). Rows stop
on their own (eos, stop string, budget); a finished row is carried as padding until the batch is done.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mf_generate.config import GenerationConfig
from mf_generate.errors import GenerationError
from mf_generate.logits import Sampler
from mf_generate.prompts import as_prompts, check_prompts
from mf_generate.stopping import Row, StopChecker

if TYPE_CHECKING:
    from mf_generate.streamers import BaseStreamer
    from mf_models import CausalLM
    from mf_tokenizers import PreTrainedTokenizerBase

logger = logging.getLogger("mf_generate")
CACHE_BUCKET = 64   # the cache length is rounded up to this, so nearby lengths share compiled graphs
PROMPT_BUCKET = 16  # and the prefill width to this


def resolve_config(model, generation_config=None, **kwargs):
    """The GenerationConfig of a call: ``generation_config`` (or the model config's defaults), then ``kwargs``."""
    if generation_config is None:
        return GenerationConfig.from_model(model, **kwargs)
    if not isinstance(generation_config, GenerationConfig):
        raise GenerationError(f"expected a GenerationConfig, got {type(generation_config).__name__}",
                              key="generation_config")
    return generation_config.update(**kwargs)


def generate(model: CausalLM, input_ids: Sequence[Sequence[int]] | Sequence[int] | np.ndarray | Mapping[str, Any],
             generation_config: GenerationConfig | None = None, streamer: BaseStreamer | None = None,
             tokenizer: PreTrainedTokenizerBase | None = None,
             attention_mask: Sequence[Sequence[int]] | np.ndarray | None = None, timing: dict[str, Any] | None = None,
             **kwargs: Any) -> list[list[int]]:
    """Generate from ``model`` (an mf-models causal LM); returns one list of ids per row, the prompt
    followed by what was generated (the final eos included), as MindFormers' ``generate``.

    ``input_ids``: a list of lists (rows of any lengths), one list, a numpy array padded on the right
    with ``pad_token_id``, or a tokenizer's output (``generate(model, tok(texts, return_tensors="np"))`` or
    ``generate(model, **tok(...))``: with ``attention_mask``, a row is its ids where the mask is 1).
    ``kwargs`` override ``generation_config`` (``max_new_tokens=``, ``do_sample=``, ``use_past=``, ``seed=`` ...);
    without it the defaults are the model folder's generation_config.json, else the model config's.
    ``streamer`` (a TextStreamer) gets the prompt and then each new token (one row only). ``tokenizer`` is
    needed for ``stop_strings``. ``timing``, a dict, gets the call's figures (``Timing.as_dict``; also logged at
    DEBUG by logger ``mf_generate``). Every check runs before any compute.
    """
    generation = Generation(model, input_ids, generation_config, streamer, tokenizer, attention_mask, **kwargs)
    out = generation.run()
    if timing is not None:
        timing.update(generation.timing.as_dict())
    return out


def warn_if_capped(config, prompts, seq_length):
    """A warning (logger ``mf_generate``) when the model's ``seq_length`` leaves a row fewer new tokens than
    ``max_new_tokens`` (or ``max_length``) asks for."""
    longest = max(len(p) for p in prompts)
    asked = config.max_new_for(longest)
    if asked > seq_length - longest:
        what = (f"max_new_tokens {config.max_new_tokens}" if config.max_new_tokens is not None
                else f"max_length {config.max_length}")
        logger.warning("%s capped by the model's seq_length %d: at most %d new tokens after a prompt of %d", what,
                       seq_length, seq_length - longest, longest)


class Timing:
    """Wall and CPU seconds of one generation: to the first token (the prefill, and its compile on a first call),
    in all, and of the steady decode steps (from the second new token on: the first decode step may compile)."""

    def __init__(self):
        self.start, self.cpu = time.perf_counter(), time.process_time()
        self.marks = []  # (wall, cpu, new tokens so far) after each step

    def step(self, new_tokens):
        self.marks.append((time.perf_counter(), time.process_time(), new_tokens))

    def as_dict(self):
        """``new_tokens``, ``seconds``, ``first_token_s`` and, over the steady steps, ``decode_tokens``,
        ``decode_s`` and ``decode_cpu_s`` (None when fewer than three steps ran)."""
        if not self.marks:
            return {"new_tokens": 0, "seconds": 0.0, "first_token_s": None, "decode_tokens": 0, "decode_s": None,
                    "decode_cpu_s": None}
        (first, _, _), end = self.marks[0], self.marks[-1]
        steady = self.marks[1] if len(self.marks) > 2 else None
        return {"new_tokens": end[2], "seconds": end[0] - self.start, "first_token_s": first - self.start,
                "decode_tokens": end[2] - steady[2] if steady else 0,
                "decode_s": end[0] - steady[0] if steady else None,
                "decode_cpu_s": end[1] - steady[1] if steady else None}


class Generation:
    """One call of ``generate``: checked inputs, row states, and the decode loop."""

    def __init__(self, model, input_ids, generation_config=None, streamer=None, tokenizer=None, attention_mask=None,
                 **kwargs):
        self.model = model
        self.config = config = resolve_config(model, generation_config, **kwargs)
        self.prompts = as_prompts(input_ids, config.pad_token_id, attention_mask)
        check_prompts(self.prompts, config, model.config)
        if config.stop_strings and tokenizer is None:
            raise GenerationError("stop strings need the tokenizer: generate(..., tokenizer=tok)", key="stop_strings")
        if streamer is not None and len(self.prompts) > 1:
            raise GenerationError(f"a streamer takes one prompt, got {len(self.prompts)}", key="streamer")
        self.streamer = streamer
        seq_length = model.config.seq_length
        self.rows = [Row(list(p), len(p), min(config.max_new_for(len(p)), seq_length - len(p)),
                         config.min_new_for(len(p))) for p in self.prompts]
        warn_if_capped(config, self.prompts, seq_length)
        self.stop = StopChecker(config.eos_token_id, config.stop_strings, tokenizer)
        self.sampler = Sampler(config)
        self.pad = config.pad_token_id if config.pad_token_id is not None else 0
        longest = max(r.prompt_length + r.budget for r in self.rows)
        self.length = min(seq_length, -(-longest // CACHE_BUCKET) * CACHE_BUCKET)

    def run(self):
        self.timing = timing = Timing()
        if self.streamer is not None:
            self.streamer.put(np.asarray(self.prompts[0]))
        for row in self.rows:
            if row.budget == 0:
                row.finish_reason = "length"
        if not all(r.done for r in self.rows):
            self.model.set_train(False)
            step = self._cached_steps() if self.config.use_past else self._recompute_steps()
            logits = next(step)
            while True:
                self._append(self.sampler(logits, self.rows))
                timing.step(sum(r.new for r in self.rows))
                if all(r.done for r in self.rows):
                    break
                logits = step.send(None)
        if self.streamer is not None:
            self.streamer.end()
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("generated %s", describe_timing(timing.as_dict()))
        return [row.tokens for row in self.rows]

    def _append(self, next_ids):
        for row, token in zip(self.rows, next_ids.tolist()):
            if row.done:
                continue
            row.tokens.append(int(token))
            self.stop.update(row)
        if self.streamer is not None and self.rows[0].new:
            self.streamer.put(np.asarray([self.rows[0].tokens[-1]]))

    def _padded(self, width):
        ids = np.full((len(self.rows), width), self.pad, np.int32)
        for i, row in enumerate(self.rows):
            ids[i, :len(row.tokens)] = row.tokens
        return ids

    def _last_positions(self, logits, positions):
        """Host float32 (b, V) logits at ``positions[r]`` of each row of device logits (b, s, V)."""
        from mindspore import Tensor, ops

        index = np.stack([np.arange(len(positions)), positions], 1).astype(np.int32)
        return ops.gather_nd(logits, Tensor(index)).asnumpy()

    def _cached_steps(self):
        lengths = np.array([r.prompt_length for r in self.rows], np.int32)
        width = min(self.length, -(-int(lengths.max()) // PROMPT_BUCKET) * PROMPT_BUCKET)
        logits = self.model.prefill(self._padded(width), valid_length=lengths, max_length=self.length, last_only=True)
        yield logits.asnumpy()[:, 0]
        while True:
            ids = np.array([[self.pad if r.done else r.tokens[-1]] for r in self.rows], np.int32)
            slots = np.array([min(len(r.tokens) - 1, self.length - 1) for r in self.rows], np.int32)
            yield self.model.decode(ids, slots=slots).asnumpy()[:, 0]

    def _recompute_steps(self):
        from mindspore import Tensor

        while True:
            ids = self._padded(self.length)
            logits = self.model.decode_sessions.forward_graph()(Tensor(ids))
            yield self._last_positions(logits, np.array([len(r.tokens) - 1 for r in self.rows]))


def describe_timing(t) -> str:
    """``N new tokens in X s`` and ``speed_text``."""
    return f"{t['new_tokens']} new tokens in {t['seconds']:.2f} s{speed_text(t)}"


def speed_text(t) -> str:
    """`` (first token after F s; then R tokens/s, C tokens per CPU second)`` of a timing (``Timing.as_dict``),
    or nothing when no token was made."""
    if not t or t["first_token_s"] is None:
        return ""
    text = f" (first token after {t['first_token_s']:.2f} s"
    if t["decode_s"]:
        text += (f"; then {t['decode_tokens'] / t['decode_s']:.1f} tokens/s, "
                 f"{t['decode_tokens'] / max(t['decode_cpu_s'], 1e-9):.1f} tokens per CPU second")
    return text + ")"
