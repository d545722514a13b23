"""A parallel training run (``use_parallel: True``, each rank started by ``mf-train launch``): what the trainer does
differently on several ranks, through mf-parallel.

- Communication starts, and the task's layout is checked against the job, before anything is read (msrun's
  scheduler runs the command too and leaves inside ``init``).
- The network is built whole on every rank (the same seed gives every rank the same weights), complete weights are
  loaded into it whole, then ``parallelize`` splits it; a sharded checkpoint (``rank_N`` folders with their
  ``layout.json``, or any layout named by ``src_strategy_path_or_dir``) is read after the split, block by block,
  into this rank's layout (what MindFormers' ``auto_trans_ckpt`` does, without writing a transformed copy).
- The step takes mf-parallel's ``train_hooks``: gradients averaged over the data-parallel group, the clipping norm
  of the whole model, the overflow verdict of all ranks, the loss averaged over the replicas.
- The data shard is the rank's data-parallel coordinate (the model-parallel ranks of a replica read the same
  batches), so dp ranks of ``batch_size`` read together what one process reads with ``batch_size x dp``.
- A checkpoint is one folder ``output_dir/checkpoint/{prefix}-{epoch}_{step}`` for every rank (published by one
  rename once all shards are in): ``layout.json`` and the strategy file, the model's ``config.json`` and
  ``task.yaml``, and per rank ``rank_N/checkpoint_N.safetensors`` (weights, optimizer and step state) with
  ``rank_N/trainer_state.json`` (step, data position, this rank's RNG states). Resume loads them back into the
  layout, so the steps after it are bit for bit those of an uninterrupted run.
- Rank 0 writes metrics.jsonl, TensorBoard and the loss curve and prunes old checkpoints; every rank prints its
  lines (``mf-parallel launch`` shows them prefixed by rank).
"""

import json
import logging
import os
from pathlib import Path

from mf_train import checkpoint
from mf_train.errors import TrainError

logger = logging.getLogger("mf_train")
LAYOUT = "layout.json"


def require_launcher():
    """``use_parallel`` outside a parallel job: say how to start one."""
    if not os.environ.get("MS_ROLE") and not os.environ.get("RANK_TABLE_FILE"):
        raise TrainError("use_parallel needs a parallel job: run `mf-train launch --worker_num N --config ...` "
                         "(or pass --use_parallel False to train in one process)", key="use_parallel")


def refuse_unsupported(task, optimizer=None):
    """What a parallel run cannot take yet, named before communication starts."""
    if optimizer is not None:
        raise TrainError("an optimizer object holds the whole model's parameters; a parallel run builds its "
                         "optimizer from the YAML after splitting the model", key="optimizer")
    if task.get("model.model_config.pet_config"):
        raise TrainError("LoRA in a parallel run is not supported yet; train it in one process",
                         key="model.model_config.pet_config")


def is_sharded(path):
    """Whether ``path`` is a sharded checkpoint folder (its ``layout.json``, or ``rank_N`` folders)."""
    path = Path(path)
    return path.is_dir() and ((path / LAYOUT).is_file() or any(p.is_dir() and p.name.startswith("rank_")
                                                               for p in path.iterdir()))


def is_training_checkpoint(path):
    """Whether ``path`` is a published sharded training checkpoint (its layout and rank 0's trainer state)."""
    path = Path(path)
    return (path / LAYOUT).is_file() and (path / "rank_0" / checkpoint.STATE).is_file()


def complete(directory):
    """The published sharded training checkpoints in ``directory``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if p.is_dir() and not p.name.startswith(".") and is_training_checkpoint(p)]
    return sorted(found, key=lambda p: (checkpoint.step_of(p), p.stat().st_mtime))


class ParallelRun:
    """This rank's part of a parallel run: the mf-parallel runtime (mesh, groups), the split network's hooks."""

    def __init__(self, runtime):
        self.runtime = runtime
        self.hooks = None

    @classmethod
    def start(cls, task):
        """Communication started for the task's layout, checked against the model and the job's size."""
        from mf_config.sources import model_config_from_task
        from mf_parallel.config_check import check_layout
        from mf_parallel.runtime import start

        require_launcher()
        config = model_config_from_task(task.cfg)
        workers = os.environ.get("RANK_SIZE") or os.environ.get("MS_WORKER_NUM")
        return cls(start(check_layout(config, None, int(workers) if workers else None)))

    @property
    def rank(self):
        return self.runtime.rank

    @property
    def data_shard(self):
        """(data-parallel index, data-parallel size): the dataset shard of this rank."""
        return self.runtime.index("dp"), self.runtime.mesh.dp

    def split(self, model):
        """``model`` parallelized for this rank (once)."""
        from mf_parallel import parallelize

        if getattr(model, "parallel_state", None) is None:
            parallelize(model, runtime=self.runtime)
        return model

    def sharded(self, model):
        from mf_parallel.checkpoint import ShardedCheckpoint

        return ShardedCheckpoint(model, model.parallel_state)

    def load_weights(self, model, source, src_strategy=None, auto_trans_ckpt=None):
        """Weights at start-up: a complete checkpoint (any form mf-train reads) into the whole network before the
        split, a sharded one (its layout, or ``src_strategy``) into this rank's blocks after it."""
        from mf_train.building import load_weights

        if not (src_strategy or is_sharded(source)):
            load_weights(model, source)
            return self.split(model)
        self.split(model)
        if auto_trans_ckpt is False:
            logger.info("auto_trans_ckpt False: the sharded checkpoint is read in its own layout and assembled "
                        "into this one all the same")
        self.sharded(model).load(source, src_strategy=src_strategy or None, cells=(model,))
        return model

    def step_hooks(self, model, params, optimizer_shard=False):
        """The ``TrainStep`` keywords of mf-parallel's ``train_hooks`` for gradients ordered as ``params``."""
        from mf_parallel import train_hooks

        self.hooks = train_hooks(model, params, optimizer_shard=bool(optimizer_shard))
        h = self.hooks
        return dict(grad_reducer=h.grad_reducer, grad_norm=h.grad_norm, all_finite=h.all_finite,
                    loss_mean=h.loss_mean)

    # -- checkpoints ----------------------------------------------------------------------------------------
    def save(self, directory, name, step_cell, state, add_files, keep=None):
        """Every rank's shard of ``step_cell`` (weights, optimizer, loss scale) and its ``state`` (JSON) into
        ``directory/name``; rank 0 adds ``add_files(folder)`` and prunes to ``keep``. Returns the folder."""
        target = Path(directory) / name
        files = {checkpoint.STATE: (json.dumps(state) + "\n").encode()}
        try:
            self.hooks.checkpoint.save(target, cells=(step_cell,), rank_files=files, add_files=add_files)
        except OSError as e:
            raise TrainError(f"could not write the checkpoint ({e.strerror}); the previous ones are intact",
                             file=target) from None
        if self.rank == 0:
            checkpoint.prune(directory, keep, target, listing=complete)
        return target

    def resume_path(self, resume, load_checkpoint, directory):
        """The checkpoint to resume (rank 0's choice, the same on every rank): ``resume`` a path, or
        ``load_checkpoint`` when it is a sharded training checkpoint, or the newest in it when it holds some, else
        the newest in ``directory``; None when there is none."""
        from mf_parallel.checkpoint import share

        path = None
        if self.rank == 0:
            path = _resume_path(resume, load_checkpoint, directory)
        return share(self.runtime, None if path is None else str(path))

    def trainer_state(self, path):
        """This rank's trainer state in a sharded training checkpoint."""
        from mf_parallel.checkpoint import rank_file

        try:
            return json.loads(rank_file(path, checkpoint.STATE, self.rank))
        except ValueError as e:
            raise TrainError(f"unreadable trainer state ({e})", file=Path(path) / f"rank_{self.rank}") from None

    def restore(self, path, step_cell, state):
        """Load a sharded training checkpoint into ``step_cell``'s parameters (weights, optimizer, loss scale) in
        this layout, then this rank's RNG states from its ``state``."""
        self.hooks.checkpoint.load(path, cells=(step_cell,))
        checkpoint.set_rng_state(state["rng"])

    def newest(self, directory):
        found = complete(directory)
        return found[-1] if found else None


def _resume_path(resume, load_checkpoint, directory):
    if isinstance(resume, str) and resume.lower() not in ("true", "1"):
        path = Path(resume) if Path(resume).exists() else Path(directory) / resume
        if not is_training_checkpoint(path):
            raise TrainError("is not a sharded training checkpoint (no layout.json and rank_0/trainer_state.json)",
                             file=path,
                             key="resume_training")
        return path
    where = Path(directory)
    if load_checkpoint and Path(load_checkpoint).is_dir():
        if is_training_checkpoint(load_checkpoint):
            return Path(load_checkpoint)
        if complete(load_checkpoint):  # else load_checkpoint is a finetune's base weights: this run's folder
            where = Path(load_checkpoint)
    found = complete(where)
    if not found:
        logger.warning("resume_training: no complete checkpoint in %s; training from the start", where)
        return None
    return found[-1]
