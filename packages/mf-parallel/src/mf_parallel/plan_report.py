"""What ``mf-parallel plan`` prints: a table of layouts with their per-device memory, the pipeline stages and
the global batch of the best one, and the verdict."""

import json

from mf_parallel.planner import gb, global_batch, stages_text

COLUMNS = ("layout", "params/dev", "weights", "grads", "optimizer", "activations", "kv cache", "total GB", "fits")


def _name(mesh):
    return f"dp{mesh.dp} mp{mesh.mp} ep{mesh.ep} pp{mesh.pp}"


def _row(c):
    b = c.breakdown
    return (_name(c.mesh), f"{b.params / 1e9:.2f}B", gb(b.weights), gb(b.gradients), gb(b.optimizer),
            gb(b.activations), gb(b.kv_cache), gb(b.total), "yes" if c.fits else "no")


def report(name, task, config, candidates, budget, workload, searched, devices, as_json, echo):
    """Print the plan; whether a layout fits."""
    ranked = sorted(candidates, key=lambda c: (not c.fits, c.breakdown.total))
    best = ranked[0] if ranked else None
    fits = bool(best and best.fits)
    if as_json:
        echo(json.dumps({"config": name, "mode": workload.mode, "devices": devices, "budget_bytes": budget,
                         "fits": fits, "layouts": [_json(task, config, c, workload) for c in ranked]}, indent=1))
        return fits
    shard = "optimizer shard on" if workload.optimizer_shard else "optimizer shard off"
    what = "every layout" if searched else "the YAML's layout"
    echo(f"{name}: {workload.mode} on {devices} device(s), {what}, {gb(budget)} GB per device; batch "
         f"{workload.batch} x seq {workload.seq}, recompute {'on' if workload.recompute else 'off'}, flash "
         f"attention {'on' if workload.flash_attention else 'off'}, {workload.optimizer}, {shard}")
    rows = [COLUMNS] + [_row(c) for c in ranked]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    for r in rows:
        echo("  " + "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths))))
    if best is None:
        echo(f"no layout of {devices} device(s) is allowed by this model")
        return False
    if workload.mode == "train":
        echo(f"global batch of {_name(best.mesh)}: {global_batch(task, workload, best.mesh)}")
    for line in stages_text(config, best.mesh) if best.mesh.pp > 1 else ():
        echo("  " + line)
    verdict = "fits" if fits else "does not fit"
    echo(f"{_name(best.mesh)} {verdict}: {gb(best.breakdown.total)} GB of {gb(budget)} GB")
    return fits


def _json(task, config, c, workload):
    b = c.breakdown
    return {"data_parallel": c.mesh.dp, "model_parallel": c.mesh.mp, "expert_parallel": c.mesh.ep,
            "pipeline_stage": c.mesh.pp, "params_per_device": b.params, "weights": b.weights,
            "gradients": b.gradients, "optimizer": b.optimizer, "activations": b.activations,
            "kv_cache": b.kv_cache, "total": b.total, "fits": c.fits,
            "global_batch": global_batch(task, workload, c.mesh), "stages": stages_text(config, c.mesh)}
