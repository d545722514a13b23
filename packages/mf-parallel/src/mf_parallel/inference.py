"""Parallel inference for ``mf-generate run --use_parallel True`` under ``mf-parallel launch``: the task YAML's
layout checked against the job, communication started before any weight is read (msrun's scheduler runs the
command too and leaves inside ``init``), then the loaded network split over the model-parallel ranks with its
KV cache heads (``parallelize``); every rank generates the same tokens."""

import os

from mf_parallel.errors import ParallelError


def require_launcher(config_path):
    """A parallel prediction needs a task YAML (its parallel_config) and a job started by the launcher."""
    if config_path is None:
        raise ParallelError("a parallel prediction takes its layout from a task YAML: pass --config",
                            key="use_parallel")
    if "MS_ROLE" not in os.environ and "RANK_TABLE_FILE" not in os.environ:
        raise ParallelError("use_parallel needs a parallel job: run under `mf-parallel launch --worker_num N -- "
                            "mf-generate run ...`", key="use_parallel")


def start_for_task(task):
    """The Runtime of this rank for the task's layout (checked against the model and the job's size first)."""
    from mf_config.sources import model_config_from_task
    from mf_parallel.config_check import check_layout
    from mf_parallel.runtime import start

    config = model_config_from_task(task)
    workers = os.environ.get("RANK_SIZE") or os.environ.get("MS_WORKER_NUM")
    pc = check_layout(config, None, int(workers) if workers else None)
    return start(pc)
