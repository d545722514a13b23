"""``CausalLanguageModelingTrainer``: the loop that composes the pieces — data (``data``), the compiled step
(``step``), the optimizer and schedule (``optim``, ``schedules``), callbacks, checkpoints, the recorder
(``metrics``) and evaluation (``evaluate``) — for ``train``, ``finetune`` and ``evaluate``.

The step, the optimizer and checkpointing assume no single device: under ``use_parallel`` (``mf-train launch``)
``mf_train.parallel`` splits the network with mf-parallel and supplies the step's reducers, the rank's data
shard, the sharded checkpoints and their resume.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mindspore as ms

from mf_config.fileio import clean_stale_in, output_lock
from mf_config.registry import register
from mf_train import checkpoint
from mf_train.building import (
    apply_pet,
    apply_recompute,
    build_callbacks,
    build_model,
    build_tokenizer,
    load_weights,
    setup_runtime,
)
from mf_train.callbacks import RunContext, run_params
from mf_train.data import Batches, DataSpec, group
from mf_train.errors import TrainError
from mf_train.evaluate import EvalStep, evaluate
from mf_train.lora import set_lora_step
from mf_train.metrics import Recorder
from mf_train.optim import build_optimizer
from mf_train.schedules import build_schedule
from mf_train.step import LossScale, TrainStep, state_parameters

if TYPE_CHECKING:
    from mindspore import nn
    from mindspore.train import Callback

    from mf_models import CausalLM
    from mf_train.task import Task

logger = logging.getLogger("mf_train")


@register("trainer")
class CausalLanguageModelingTrainer:
    """Train, finetune or evaluate a causal LM as a task config says; see the module docstring."""

    def __init__(self, task: Task, model: CausalLM | None = None, train_dataset: Mapping[str, Any] | None = None,
                 eval_dataset: Mapping[str, Any] | None = None, callbacks: Iterable[Callback] | None = None,
                 optimizer: nn.Cell | None = None, progress: bool | None = None) -> None:
        self.task = task
        self.parallel = None
        if task.get("use_parallel"):
            from mf_train.parallel import ParallelRun, refuse_unsupported, require_launcher

            require_launcher()
            refuse_unsupported(task, optimizer)
        setup_runtime(task)
        if task.get("use_parallel"):
            self.parallel = ParallelRun.start(task)  # before anything is read: msrun's scheduler ends in here
        self.model = model if model is not None else build_model(task)
        self.lora = apply_pet(self.model, int(task.get("seed", 0)))
        recomputed = apply_recompute(self.model, task.get("recompute_config.recompute"))
        if recomputed:
            logger.info("recompute_config.recompute: %d decoder layers recompute their forward pass in the backward "
                        "pass (less memory, about a third more compute)", recomputed)
        self.train_dataset, self.eval_dataset = train_dataset, eval_dataset
        self.user_callbacks, self.user_optimizer = list(callbacks or ()), optimizer
        self.progress = progress
        self.output_dir = Path(task.get("output_dir"))
        self.rank, self.device_num = self.parallel.data_shard if self.parallel else (0, 1)  # the dataset's shard
        self.recorder = None
        self.state = {"step": 0, "epoch": 1, "consumed_batches": 0}
        self.last_eval = None

    # -- the three entry points ------------------------------------------------------------------
    def train(self, resume_training: bool | str | os.PathLike | None = None) -> dict[str, Any]:
        """Train from the model's current weights (or resume); returns the summary dict."""
        return self._fit(resume_training if resume_training is not None else self.task.get("resume_training"))

    def finetune(self, load_checkpoint: str | os.PathLike | None = None,
                 resume_training: bool | str | os.PathLike | None = None) -> dict[str, Any]:
        """Load pretrained weights (``load_checkpoint`` or the task's), then train."""
        resume = resume_training if resume_training is not None else self.task.get("resume_training")
        source = load_checkpoint or self.task.get("load_checkpoint")
        if not source and not resume:
            raise TrainError("finetuning needs pretrained weights: --load_checkpoint PATH", key="load_checkpoint")
        if source and not (resume and self._is_training_output(source)):
            self._load_weights(source)  # the base weights (a LoRA run's checkpoints may hold adapters only)
        return self._fit(resume)

    def evaluate(self, load_checkpoint: str | os.PathLike | None = None) -> dict[str, Any]:
        """Loss, perplexity and token count over the eval dataset."""
        source = load_checkpoint or self.task.get("load_checkpoint")
        if source:
            self._load_weights(source)
        result = self.run_evaluation()
        self.report(f"eval: loss {result['eval_loss']:.6f}, perplexity {result['perplexity']:.4f}, "
                    f"{result['eval_tokens']} tokens")
        return result

    # -- pieces ------------------------------------------------------------------------------------
    def _load_weights(self, source):
        if self.parallel is None:
            load_weights(self.model, source)
        else:
            self.parallel.load_weights(self.model, source, self.task.get("src_strategy_path_or_dir"),
                                       self.task.get("auto_trans_ckpt"))

    def _is_training_output(self, source):
        """Whether ``source`` holds training checkpoints (resume reads them; they are no base weights)."""
        if self.parallel is None:
            return checkpoint.is_training_output(source)
        from mf_train.parallel import complete, is_training_checkpoint

        return is_training_checkpoint(source) or bool(complete(source))

    def _spec(self, epochs, shard=True):
        """The data spec; ``shard`` False: every rank reads the whole dataset (evaluation)."""
        runner = self.task.get("runner_config") or {}
        batch = runner.get("batch_size") or self.task.get("train_dataset.batch_size") or 1
        c = self.model.config
        rank, num = (self.rank, self.device_num) if shard else (0, 1)
        return DataSpec(seq_length=c.seq_length, vocab_size=c.vocab_size, batch_size=int(batch), epochs=epochs,
                        seed=int(self.task.get("seed", 0)), rank_id=rank, device_num=num)

    def _batches(self, key, dataset, epochs):
        section = dataset if isinstance(dataset, dict) else self.task.get(key)
        return Batches(section, self._spec(epochs, shard=key == "train_dataset"), key)

    def _build_step(self, total_steps):
        if self.parallel is not None:
            self.parallel.split(self.model)
        params = self.model.trainable_params()
        schedule = build_schedule(self.task.get("lr_schedule"), self.task.get("optimizer.learning_rate"),
                                  total_steps)
        wanted = schedule.total_steps
        if wanted is not None and wanted > total_steps:
            how = ("runner_config.epochs x sink_size" if self.task.get("runner_config.sink_mode") else
                   "records / batch_size / gradient_accumulation_steps x epochs")
            raise TrainError(f"{wanted} steps, but the run has {total_steps} ({how}): set it to -1 or raise "
                             "runner_config.epochs", key="lr_schedule.total_steps")
        optimizer = self.user_optimizer or build_optimizer(self.task.get("optimizer"), params)
        wrapper = self.task.get("runner_wrapper") or {}
        clip = wrapper.get("max_grad_norm", 1.0) if wrapper.get("use_clip_grad") else None
        hooks = {} if self.parallel is None else self.parallel.step_hooks(
            self.model, optimizer.parameters, self.task.get("parallel.enable_parallel_optimizer"))
        step = TrainStep(self.model, optimizer, self.accumulation, LossScale.from_wrapper(wrapper), clip, **hooks)
        return step, optimizer, schedule

    @property
    def accumulation(self) -> int:
        return int(self.task.get("runner_config.gradient_accumulation_steps", 1))

    # -- the loop ----------------------------------------------------------------------------------
    def _plan(self, batches, epochs):
        """Optimizer steps of the run and per epoch. With ``runner_config.sink_mode`` and a ``sink_size``, an epoch
        is ``sink_size`` steps (MindFormers' sink epochs; the data repeats as needed); else one pass."""
        runner = self.task.get("runner_config") or {}
        sink = int(runner.get("sink_size") or -1) if runner.get("sink_mode") else -1
        per_epoch = sink if sink > 0 else batches.per_epoch // self.accumulation
        total = per_epoch * epochs
        if total < 1:
            raise TrainError(f"{batches.per_epoch} micro-batch(es) an epoch make no step of {self.accumulation}",
                             key="runner_config.gradient_accumulation_steps")
        batches.spec.epochs = -(-total * self.accumulation // batches.per_epoch)
        return total, per_epoch

    def _fit(self, resume):
        """Train holding ``output_dir``'s lock (a second run on it fails at once, naming this one), after removing
        what a killed run left there; in a parallel run rank 0 does both for the job (the other ranks write their
        shards through its checkpoint saves)."""
        if self.parallel is not None and self.parallel.rank != 0:
            return self._train_loop(resume)
        with output_lock(self.output_dir):
            for folder in (self.output_dir, self.checkpoint_dir()):
                clean_stale_in(folder)  # half-written or half-removed checkpoints, a half-drawn curve, locks
            return self._train_loop(resume)

    def _train_loop(self, resume):
        epochs = int(self.task.get("runner_config.epochs", 1))
        batches = self._batches("train_dataset", self.train_dataset, epochs)
        total, self.steps_per_epoch = self._plan(batches, epochs)
        self.per_epoch = batches.per_epoch
        self.model.set_train(True)
        self.step_cell, self.optimizer, self.schedule = self._build_step(total)
        self.tokenizer = build_tokenizer(self.task)
        if resume:
            self._resume(resume)
        self.total_steps = total
        callbacks = build_callbacks(self.task, self.user_callbacks)
        writer = self.parallel is None or self.parallel.rank == 0  # one rank records a parallel run
        self.recorder = Recorder(self.output_dir, total, self.state["step"], self.progress, write=writer)
        params = self._run_params(epochs, total)
        context = RunContext(params)
        for cb in callbacks:
            cb.on_train_begin(context)
        started = self.started = time.perf_counter()
        skip = self.state["consumed_batches"]
        try:
            for ids, labels in group(batches.iterate(skip), self.accumulation):
                if self.state["step"] >= total or context.get_stop_requested():
                    break
                self._one_step(ids, labels, params)
                for cb in callbacks:
                    cb.on_train_step_end(context)
                if self.state["step"] % self.steps_per_epoch == 0:
                    for cb in callbacks:
                        cb.on_train_epoch_end(context)
            for cb in callbacks:
                cb.on_train_end(context)
        finally:
            curve = self.recorder.close()
        return self._summary(time.perf_counter() - started, curve)

    def _run_params(self, epochs, total):
        return run_params(trainer=self, train_network=self.step_cell, network=self.model, optimizer=self.optimizer,
                          epoch_num=epochs, batch_num=self.steps_per_epoch, total_steps=total,
                          initial_step=self.state["step"], cur_step_num=self.state["step"],
                          cur_epoch_num=self.state["epoch"], net_outputs=None, record=None)

    def _one_step(self, ids, labels, params):
        step = self.state["step"]
        lr = self.schedule.lr_at(step)
        if self.lora:
            set_lora_step(self.model, step)
        start = time.perf_counter()
        outputs = self.step_cell(ms.Tensor.from_numpy(ids), ms.Tensor.from_numpy(labels), ms.Tensor(lr, ms.float32))
        loss, overflow, scale, norm = (o.asnumpy() for o in outputs)
        seconds = time.perf_counter() - start
        loss = float(loss)
        if not math.isfinite(loss):
            last = self._newest_checkpoint() if self.checkpoint_dir().is_dir() else None
            raise TrainError(f"loss is {loss} at step {step + 1}; stopped (last good checkpoint: {last or 'none'})",
                             key="loss")
        self.state["step"] = step + 1
        self.state["consumed_batches"] += self.accumulation
        self.state["epoch"] = min(self.state["step"] // self.steps_per_epoch + 1, params.epoch_num)
        tokens = int(ids.size - ids.shape[0] * (self.accumulation if ids.ndim == 3 else 1)) * self.device_num
        record = {"step": step + 1, "epoch": self.state["epoch"], "loss": loss, "lr": lr,
                  "grad_norm": float(norm) if self.step_cell.clip else None, "loss_scale": float(scale),
                  "overflow": bool(overflow), "tokens": tokens, "step_time_ms": seconds * 1000,
                  "tokens_per_s": tokens / seconds if seconds > 0 else 0.0,
                  "elapsed_s": time.perf_counter() - self.started}
        self.state["loss"], self.state["lr"] = loss, lr
        self.recorder.step(record)
        params.cur_step_num, params.cur_epoch_num = step + 1, self.state["epoch"]
        params.net_outputs, params.record = outputs, record

    # -- evaluation --------------------------------------------------------------------------------
    def run_evaluation(self) -> dict[str, Any]:
        """PerplexityMetric over the eval dataset (one pass, in order)."""
        batches = self._batches("eval_dataset", self.eval_dataset, 1)
        if not hasattr(self, "eval_step"):
            if self.parallel is not None:
                self.parallel.split(self.model)
            self.eval_step = EvalStep(self.model)
        was_training = self.model.training
        try:
            return evaluate(self.eval_step, batches.iterate(0))
        finally:
            self.model.set_train(was_training)

    def evaluate_now(self) -> dict[str, Any]:
        """Evaluate during training and record it (EvalCallBack)."""
        result = dict(self.run_evaluation(), step=self.state["step"])
        self.last_eval = result
        best = min(r["eval_loss"] for r in [*self.recorder.evals, result])
        self.recorder.evaluation(result)
        self.report(f"eval at step {result['step']}: loss {result['eval_loss']:.6f}, perplexity "
                    f"{result['perplexity']:.4f} ({result['eval_tokens']} tokens; best loss {best:.6f})")
        return result

    # -- checkpoints -------------------------------------------------------------------------------
    def checkpoint_dir(self, directory: str | os.PathLike | None = None) -> Path:
        """Where checkpoints go: ``output_dir/checkpoint/rank_0`` (one folder per checkpoint), or for a parallel
        run ``output_dir/checkpoint`` (one folder per checkpoint holding every rank's)."""
        if directory:
            return Path(directory)
        folder = self.output_dir / "checkpoint"
        return folder if self.parallel is not None else folder / f"rank_{self.rank}"

    def _newest_checkpoint(self):
        if self.parallel is not None:
            return self.parallel.newest(self.checkpoint_dir())
        return checkpoint.newest_good(self.checkpoint_dir())

    def checkpoint_tensors(self, trainable_only: bool = False) -> dict[str, ms.Parameter]:
        """name -> Parameter: the weights, then the optimizer's and the step's state."""
        weights = self.model.trainable_params() if trainable_only else self.model.get_parameters()
        tensors = {p.name: p for p in weights if not p.name.startswith("kv_cache.")}
        for p in self.optimizer.get_parameters():
            tensors.setdefault(p.name, p)
        tensors.update(state_parameters(self.step_cell))
        return tensors

    def save_checkpoint(self, prefix: str = "CKP", directory: str | os.PathLike | None = None, keep: int | None = None,
                        trainable_only: bool = False) -> Path:
        """A complete checkpoint of this moment (CheckpointMonitor); returns its path."""
        folder = self.checkpoint_dir(directory)
        state = dict(self.state, rng=checkpoint.rng_state(), batch_size=self._spec(1).batch_size,
                     accumulation=self.accumulation, total_steps=self.total_steps, data_parallel=self.device_num)
        start = time.perf_counter()
        if self.parallel is not None:  # every rank's shard in one folder; trainable_only: LoRA is refused there
            name = f"{prefix}-{self.state['epoch']}_{self.state['step']}"
            path = self.parallel.save(folder, name, self.step_cell, state, self._extra_files, keep)
        else:
            name = checkpoint.folder_name(prefix, self.rank, self.state["epoch"], self.state["step"])
            path = checkpoint.save(folder, name, self.checkpoint_tensors(trainable_only), state, self._extra_files)
            checkpoint.prune(folder, keep, path)
        seconds = time.perf_counter() - start
        self.recorder.event({"checkpoint": str(path), "step": self.state["step"], "save_s": seconds,
                             "bytes": sum(f.stat().st_size for f in path.rglob("*") if f.is_file())})
        self.last_checkpoint = path
        return path

    def _extra_files(self, tmp):
        self.model.config.save_pretrained(tmp)
        self.task.cfg.dump(tmp / "task.yaml")
        if self.tokenizer is not None:
            self.tokenizer.save_pretrained(tmp)

    def _resume(self, resume):
        """Restore weights, optimizer and step state, position and RNG from a checkpoint folder (``resume`` a path,
        or true: the newest good one in ``load_checkpoint`` or this run's checkpoint folder)."""
        if self.parallel is not None:
            path = self.parallel.resume_path(resume, self.task.get("load_checkpoint"), self.checkpoint_dir())
            if path is not None:
                state = self.parallel.trainer_state(path)
                self._check_resumable(state, path)
                self.parallel.restore(path, self.step_cell, state)
                self._resumed(state, path)
            return
        if isinstance(resume, str) and resume.lower() not in ("true", "1"):
            path = Path(resume) if Path(resume).exists() else self.checkpoint_dir() / resume
        else:
            source = self.task.get("load_checkpoint")
            where = Path(source) if source and Path(source).is_dir() else self.checkpoint_dir()
            path = where if (where / checkpoint.STATE).is_file() else checkpoint.newest_good(where)
            if path is None:
                logger.warning("resume_training: no complete checkpoint in %s; training from the start", where)
                return
        tensors, state = checkpoint.load(path)
        if state is None:
            raise TrainError("is not a training checkpoint (no trainer_state.json)", file=path, key="resume_training")
        self._check_resumable(state, path)
        checkpoint.restore(self.checkpoint_tensors(trainable_only=True), tensors, path)
        frozen = {k: v for k, v in self.checkpoint_tensors().items() if k in tensors}
        checkpoint.restore(frozen, tensors, path)  # a LoRA-only checkpoint leaves the loaded base weights
        checkpoint.set_rng_state(state["rng"])
        self._resumed(state, path)

    def _resumed(self, state, path):
        self.state = {k: state[k] for k in ("step", "epoch", "consumed_batches", "loss", "lr") if k in state}
        self.report(f"resumed from {path} at step {self.state['step']}")

    def _check_resumable(self, state, path):
        for key, now in (("batch_size", self._spec(1).batch_size), ("accumulation", self.accumulation),
                         ("data_parallel", self.device_num)):
            if state.get(key) not in (None, now):
                raise TrainError(f"the checkpoint was trained with {key} {state[key]}, this run has {now}: the data "
                                 "position would not match", file=path, key="resume_training")

    # -- output ------------------------------------------------------------------------------------
    def report(self, text: str) -> None:
        """One line on stderr (through the progress bar while training)."""
        if self.recorder is not None:
            self.recorder.line(text)
        else:
            print(text, file=sys.stderr, flush=True)

    def _summary(self, seconds, curve):
        steps = [r for r in self.recorder.steps]
        tokens = sum(r["tokens"] for r in steps)
        evals = self.recorder.evals
        summary = {"steps": self.state["step"], "tokens": tokens, "seconds": seconds,
                   "tokens_per_s": tokens / seconds if seconds > 0 else 0.0,
                   "final_loss": steps[-1]["loss"] if steps else self.state.get("loss"),
                   "best_perplexity": min((e["perplexity"] for e in evals), default=None),
                   "checkpoint": str(getattr(self, "last_checkpoint", "")) or None,
                   "loss_curve": str(curve) if curve else None, "output_dir": str(self.output_dir)}
        best = f", best eval perplexity {summary['best_perplexity']:.3f}" if evals else ""
        loss = f"{summary['final_loss']:.4f}" if summary["final_loss"] is not None else "n/a"
        self.report(f"done: {summary['steps']} steps, {tokens} tokens in {seconds:.1f} s "
                    f"({summary['tokens_per_s']:.0f} tokens/s), final loss {loss}{best}; checkpoint "
                    f"{summary['checkpoint']}, curve {summary['loss_curve']}, metrics {self.output_dir}/metrics.jsonl")
        return summary
