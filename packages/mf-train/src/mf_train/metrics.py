"""What a run records: a JSON line per logged step and evaluation (``metrics.jsonl``), TensorBoard event files
(``tensorboard/``, tensorboardX), a progress bar on a terminal, a loss-curve PNG at the end (matplotlib) and a
one-line summary.

``metrics.jsonl`` is appended to (a resumed run adds its lines; ``read_metrics`` keeps the latest of each step and
skips a line a kill cut short), under the run's lock on ``output_dir``; it is fsynced at each checkpoint and at the
end, and a full disk is one line (``mf_config.fileio.no_space_errors``). The curve is published whole
(``atomic_write``)."""

import json
import math
import sys
from pathlib import Path

from mf_config import fsops
from mf_config.fileio import atomic_write, no_space_errors

METRICS = "metrics.jsonl"
CURVE = "loss_curve.png"


class Recorder:
    """Records steps and evaluations of one run into ``output_dir``."""

    def __init__(self, output_dir, total_steps, initial_step=0, progress=None, tensorboard=True, write=True):
        """``write`` False: nothing goes to ``output_dir`` (the other ranks of a parallel run, whose figures
        rank 0 records), the lines are still printed."""
        self.dir = Path(output_dir)
        self.total_steps, self.initial_step = total_steps, initial_step
        self.steps, self.evals = [], []
        self.tokens = 0
        self._jsonl = None
        if write:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._jsonl = open(self.dir / METRICS, "a", encoding="utf-8")
        self._tb = self._tensorboard() if tensorboard and write else None
        show = sys.stderr.isatty() if progress is None else progress
        self._bar = self._progress() if show else None

    def _tensorboard(self):
        from tensorboardX import SummaryWriter

        return SummaryWriter(str(self.dir / "tensorboard"), purge_step=self.initial_step or None)

    def _progress(self):
        from tqdm import tqdm

        return tqdm(total=self.total_steps, initial=self.initial_step, unit="step", dynamic_ncols=True,
                    file=sys.stderr)

    def step(self, record):
        """A finished step: ``step``, ``loss``, ``lr``, ``tokens``, ... (see the trainer)."""
        self.steps.append(record)
        self.tokens += record["tokens"]
        self._write(record)
        if self._tb is not None:
            for key in ("loss", "lr", "grad_norm", "loss_scale", "tokens_per_s"):
                if record.get(key) is not None:
                    self._tb.add_scalar(f"train/{key}", record[key], record["step"])
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(loss=f"{record['loss']:.4f}", refresh=False)

    def evaluation(self, record):
        self.evals.append(record)
        self._write(record)
        if self._tb is not None:
            for key in ("eval_loss", "perplexity"):
                self._tb.add_scalar(f"eval/{key}", record[key], record["step"])

    def event(self, record):
        """Anything else worth a line in metrics.jsonl (a checkpoint saved: its path, size and time); the lines so
        far are flushed to the disk with it, as the checkpoint's are."""
        self._write(record)
        self._sync()

    def _write(self, record):
        if self._jsonl is None:
            return
        with no_space_errors(self.dir / METRICS):
            self._jsonl.write(json.dumps(record) + "\n")
            self._jsonl.flush()

    def _sync(self):
        if self._jsonl is None:
            return
        with no_space_errors(self.dir / METRICS):
            fsops.fsync_fd(self._jsonl.fileno(), self.dir / METRICS)

    def line(self, text):
        """Print a line on stderr without breaking the progress bar."""
        if self._bar is not None:
            self._bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self):
        """Flush everything and draw the loss curve; returns its path (None without steps)."""
        if self._bar is not None:
            self._bar.close()
        if self._tb is not None:
            self._tb.close()
        if self._jsonl is None:  # a rank that does not record
            return None
        try:
            self._sync()
        finally:
            self._jsonl.close()
        return self._curve() if self.steps else None

    def _curve(self):
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt

        history = read_metrics(self.dir / METRICS)
        fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
        train = [r for r in history if "loss" in r and "eval_loss" not in r]
        ax.plot([r["step"] for r in train], [r["loss"] for r in train], label="train loss", lw=1)
        evals = [r for r in history if "eval_loss" in r]
        if evals:
            ax.plot([r["step"] for r in evals], [r["eval_loss"] for r in evals], "o-", label="eval loss")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = self.dir / CURVE
        with atomic_write(path, "wb") as f:
            fig.savefig(f, format="png")
        plt.close(fig)
        return path


def read_metrics(path):
    """The records of a metrics.jsonl; a resumed run's later lines replace the earlier ones of the same step."""
    latest = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut short by a kill
            kind = "eval" if "eval_loss" in record else "train" if "loss" in record else "event"
            latest[(kind, record.get("step"))] = record
    return sorted(latest.values(), key=lambda r: (r.get("step", 0), "eval_loss" in r))


def perplexity(loss):
    return math.exp(loss) if loss < 700 else float("inf")
