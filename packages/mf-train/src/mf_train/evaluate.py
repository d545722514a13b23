"""Evaluation: MindFormers' ``PerplexityMetric`` over a dataset — the mean negative log-likelihood of the learned
tokens (labels not ``ignore_token_id``, inputs not ``pad_token_id``, as the training loss masks them), its
perplexity and the token count, summed exactly over every batch in a compiled graph."""

import math
from typing import Any

import mindspore as ms
import numpy as np
from mindspore import ops

from mf_config.registry import register
from mf_models.compiled import CompiledCell


class EvalStep(CompiledCell):
    """Per token of one batch (b, s - 1): its loss, 0 where masked, and the mask; the host sums them in float64
    (a float32 sum over a batch would be off by 1e-4 already)."""

    def __init__(self, network):
        super().__init__(auto_prefix=False)
        self.network = network
        self.ignore_token_id = network.config.ignore_token_id
        self.pad_token_id = network.config.pad_token_id

    def construct(self, input_ids, labels):
        tokens = input_ids[:, :-1]
        target = labels[:, 1:]
        logits = self.network(tokens)
        mask = ops.logical_and(target != self.ignore_token_id, tokens != self.pad_token_id)
        logp = ops.log_softmax(logits, -1)
        picked = ops.gather_elements(logp, 2, ops.expand_dims(ops.maximum(target, 0), -1)).squeeze(-1)
        mask = ops.cast(mask, ms.float32)
        return -picked * mask, mask


@register("metric")
class PerplexityMetric:
    """Accumulates the token losses of batches; ``eval()`` gives loss, perplexity and tokens."""

    def __init__(self, **unused: Any) -> None:
        self.clear()

    def clear(self) -> None:
        self.total, self.count = 0.0, 0

    def update(self, losses: np.ndarray, mask: np.ndarray) -> None:
        """Token losses (masked ones 0) and the mask of a batch."""
        self.total += float(np.asarray(losses, np.float64).sum())
        self.count += int(np.asarray(mask).sum())

    def eval(self) -> dict[str, float]:
        loss = self.total / self.count if self.count else float("nan")
        return {"eval_loss": loss, "perplexity": math.exp(loss) if loss < 700 else float("inf"),
                "eval_tokens": self.count}


def evaluate(step, batches):
    """PerplexityMetric over every (input_ids, labels) of ``batches`` with the compiled ``step`` (an EvalStep)."""
    metric = PerplexityMetric()
    step.network.set_train(False)
    for ids, labels in batches:
        losses, mask = step(ms.Tensor.from_numpy(ids), ms.Tensor.from_numpy(labels))
        metric.update(losses.asnumpy(), mask.asnumpy())
    return metric.eval()
