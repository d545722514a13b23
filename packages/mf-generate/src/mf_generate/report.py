"""What ``mf-generate run`` shows and writes: each prompt, a separator, its completion; a progress bar over a
prompt file; ``--output FILE.jsonl`` rows; a summary with exact token counts and tokens/s."""

import json
import sys
import time

import click
import numpy as np

from mf_generate.streamers import TextStreamer

SEPARATOR = "--- completion ---"


class CompletionStreamer(TextStreamer):
    """Streams what the generated tokens add to the prompt's text: decoded together with the prompt, so the
    join keeps its space (a completion decoded alone loses SentencePiece's leading one)."""

    def __init__(self, tokenizer):
        super().__init__(tokenizer, skip_prompt=False, skip_special_tokens=True)

    def put(self, value):
        if self.next_is_prompt:
            self.next_is_prompt = False
            self.tokens.extend(int(i) for i in np.asarray(value).reshape(-1).tolist())
            self.printed = len(self.tokenizer.decode(self.tokens, **self.decode_kwargs))
            return
        super().put(value)


class Report:
    """Prints results as they come and, with ``output``, writes one JSON line per prompt (atomically, at the end).

    Arguments:
        tokenizer: decodes the completions
        output: a ``.jsonl`` path or None
        total: the number of prompts (the progress bar's length)
        progress: show a progress bar on stderr (a prompt file, not streaming)
    """

    def __init__(self, tokenizer, output, total, progress):
        self.tokenizer, self.output, self.total, self.progress = tokenizer, output, total, progress
        self.rows, self.count, self.prompt_tokens, self.new_tokens, self.seconds = [], 0, 0, 0, 0.0
        self._bar, self._start = None, None

    def __enter__(self):
        from tqdm import tqdm

        self._bar = tqdm(total=self.total, unit=" prompts", file=sys.stderr, disable=not self.progress or None,
                         leave=False)
        self._start = time.perf_counter()
        return self

    def header(self, prompt):
        """Before a streamed completion: the prompt and the separator."""
        click.echo(f"{prompt}\n{SEPARATOR}")

    def add(self, prompt, prompt_ids, output_ids, printed=False):
        """Record one result; print it unless its completion was streamed (``printed``)."""
        completion = self.completion(prompt_ids, output_ids)
        new = len(output_ids) - len(prompt_ids)
        self.count += 1
        self.prompt_tokens += len(prompt_ids)
        self.new_tokens += new
        if printed:
            click.echo()
        else:
            self._bar.clear()
            click.echo(f"{prompt}\n{SEPARATOR}\n{completion}\n")
        self._bar.update(1)
        if self.output:
            self.rows.append({"prompt": prompt, "completion": completion, "prompt_ids": list(map(int, prompt_ids)),
                              "completion_ids": list(map(int, output_ids[len(prompt_ids):])),
                              "prompt_tokens": len(prompt_ids), "completion_tokens": new})

    def completion(self, prompt_ids, output_ids):
        """The text the generated ids add to the prompt's text (decoded together, so word joins stay right)."""
        full = self.tokenizer.decode(output_ids, skip_special_tokens=True)
        head = self.tokenizer.decode(prompt_ids, skip_special_tokens=True)
        if full.startswith(head):
            return full[len(head):]
        return self.tokenizer.decode(output_ids[len(prompt_ids):], skip_special_tokens=True)

    def __exit__(self, exc_type, exc, tb):
        self.seconds = time.perf_counter() - self._start
        self._bar.close()
        if exc_type is None and self.output:
            from mf_config.fileio import atomic_write

            with atomic_write(self.output) as f:
                for row in self.rows:
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
        return False

    def summary(self):
        rate = self.new_tokens / self.seconds if self.seconds > 0 else 0.0
        where = f"; wrote {self.output}" if self.output else ""
        return (f"{self.count} prompt(s): {self.prompt_tokens} prompt tokens, "
                f"{self.new_tokens} new tokens in {self.seconds:.2f} s ({rate:.1f} new tokens/s){where}")
