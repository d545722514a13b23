"""Evaluation: MindFormers' ``PerplexityMetric`` over a dataset — the mean negative log-likelihood of the learned
tokens (labels not ``ignore_token_id``, inputs not ``pad_token_id``, as the training loss masks them), its
perplexity and the token count, summed exactly over every batch in a compiled graph."""

import math

import mindspore as ms
import numpy as np
from mindspore import nn, ops

from mf_config.registry import register


class EvalStep(nn.Cell):
    """(sum of the token losses, number of tokens) of one batch; the network in inference mode."""

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
        return -ops.sum(picked * mask), ops.sum(mask)


@register("metric")
class PerplexityMetric:
    """Accumulates (loss sum, token count) of batches; ``eval()`` gives loss, perplexity and tokens."""

    def __init__(self, **unused):
        self.clear()

    def clear(self):
        self.total, self.count = 0.0, 0

    def update(self, loss_sum, count):
        self.total += float(np.asarray(loss_sum))
        self.count += int(round(float(np.asarray(count))))

    def eval(self):
        loss = self.total / self.count if self.count else float("nan")
        return {"eval_loss": loss, "perplexity": math.exp(loss) if loss < 700 else float("inf"),
                "eval_tokens": self.count}


def evaluate(step, batches):
    """PerplexityMetric over every (input_ids, labels) of ``batches`` with the compiled ``step`` (an EvalStep)."""
    metric = PerplexityMetric()
    step.network.set_train(False)
    for ids, labels in batches:
        loss_sum, count = step(ms.Tensor.from_numpy(ids), ms.Tensor.from_numpy(labels))
        metric.update(loss_sum.asnumpy(), count.asnumpy())
    return metric.eval()
