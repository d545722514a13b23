"""Per-row state of a generation and when a row stops: an eos id, a stop string, or its token budget."""

from dataclasses import dataclass, field


@dataclass
class Row:
    """One prompt's ids so far (``tokens``: prompt then generated), its limits and why it stopped."""

    tokens: list
    prompt_length: int
    budget: int          # most new tokens: max_new_tokens / max_length, capped by the model's seq_length
    min_new: int = 0
    finish_reason: str = None  # "eos", "stop_string" or "length" once done
    _stop_from: int = field(default=0, repr=False)

    @property
    def new(self):
        return len(self.tokens) - self.prompt_length

    @property
    def done(self):
        return self.finish_reason is not None

    @property
    def generated(self):
        return self.tokens[self.prompt_length:]


class StopChecker:
    """Decides after each token whether a row is done (``eos_ids``; ``stop_strings`` need ``tokenizer``).

    A stop string counts once it appears in the generated text and overlaps the newest token, as in
    Hugging Face's ``StopStringCriteria``; the tokens that made it stay in the output.
    """

    def __init__(self, eos_ids, stop_strings=(), tokenizer=None):
        self.eos_ids = set(eos_ids)
        self.stop_strings = list(stop_strings)
        self.tokenizer = tokenizer
        longest = max((len(s) for s in self.stop_strings), default=0)
        self.window = 4 * longest + 4  # a character is at most 4 byte tokens

    def update(self, row):
        """Mark ``row`` done if its last token ends it."""
        if row.tokens[-1] in self.eos_ids:
            row.finish_reason = "eos"
        elif self.stop_strings and self._has_stop(row):
            row.finish_reason = "stop_string"
        elif row.new >= row.budget:
            row.finish_reason = "length"

    def _has_stop(self, row):
        tail = row.generated[-self.window:]
        text = self.tokenizer.decode(tail)
        before = len(self.tokenizer.decode(tail[:-1])) if len(tail) > 1 else 0
        for s in self.stop_strings:
            if text.find(s, max(0, before - len(s) + 1)) >= 0:
                return True
        return False
