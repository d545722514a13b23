"""Names that training adds to a checkpoint beside the weights: optimizer moments and accumulators, step counters and
loss-scale state (MindSpore's, MindFormers' and mf-train's). Loaders of weights skip them; ``strip-optimizer``
drops them."""

OPTIMIZER_PREFIXES = ("adam_m", "adam_v", "accu_grads", "moment1", "moment2", "moments", "exp_avg", "exp_avg_sq",
                      "accum", "mean_grad", "mean_square", "linear", "velocity")
OPTIMIZER_NAMES = {"global_step", "learning_rate", "beta1_power", "beta2_power", "epoch_num", "step_num",
                   "loss_scale", "scale_sense", "current_iterator_step", "last_overflow_iterator_step", "stat"}


def is_optimizer_state(name: str) -> bool:
    """True for optimizer moments, accumulators and step counters (``adam_m.x``, ``global_step``, ...)."""
    return name in OPTIMIZER_NAMES or name.split(".", 1)[0] in OPTIMIZER_PREFIXES
