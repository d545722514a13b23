"""``generate``: MindFormers' ``model.generate`` for the causal LMs of mf-models, with a static KV cache.

With ``use_past`` the prompts run once (``model.prefill``, rows padded on the right to the longest) and
each further token is one ``model.decode`` step on the cache: two compiled graphs per generation. Without
it every step recomputes all positions of a fixed-size window (one graph; kept for checking). Rows stop
on their own (eos, stop string, budget); a finished row is carried as padding until the batch is done.
"""

import logging

import numpy as np

from mf_generate.config import GenerationConfig
from mf_generate.errors import GenerationError
from mf_generate.logits import Sampler
from mf_generate.prompts import as_prompts, check_prompts
from mf_generate.stopping import Row, StopChecker

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


def generate(model, input_ids, generation_config=None, streamer=None, tokenizer=None, attention_mask=None,
             **kwargs):
    """Generate from ``model`` (an mf-models causal LM); returns one list of ids per row, the prompt
    followed by what was generated (the final eos included), as MindFormers' ``generate``.

    ``input_ids``: a list of lists (rows of any lengths), one list, a numpy array padded on the right
    with ``pad_token_id``, or a tokenizer's output (``generate(model, tok(texts, return_tensors="np"))`` or
    ``generate(model, **tok(...))``: with ``attention_mask``, a row is its ids where the mask is 1).
    ``kwargs`` override ``generation_config`` (``max_new_tokens=``, ``do_sample=``, ``use_past=``, ``seed=`` ...);
    without it the defaults are the model folder's generation_config.json, else the model config's.
    ``streamer`` (a TextStreamer) gets the prompt and then each new token (one row only). ``tokenizer`` is
    needed for ``stop_strings``. Every check runs before any compute.
    """
    return Generation(model, input_ids, generation_config, streamer, tokenizer, attention_mask, **kwargs).run()


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
                if all(r.done for r in self.rows):
                    break
                logits = step.send(None)
        if self.streamer is not None:
            self.streamer.end()
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
            logits = self.model(Tensor(ids))
            yield self._last_positions(logits, np.array([len(r.tokens) - 1 for r in self.rows]))
