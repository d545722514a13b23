"""Tiny models of the four families for the distributed checks, their inputs, and the training step used both by
the workers (with mf-parallel's hooks) and by the single-process reference."""

import numpy as np

from mf_config import BloomConfig, GPT2Config, LlamaConfig, MoEConfig

TINY = dict(num_layers=2, hidden_size=32, num_heads=4, vocab_size=96, seq_length=32, compute_dtype="float32",
            param_init_type="float32", bos_token_id=1, eos_token_id=2, pad_token_id=0)
LR, MAX_NORM, STEPS, RESUME_AT = 1e-2, 0.5, 5, 3


def config(family, **parallel):
    pc = {"vocab_emb_dp": family == "mixtral", **parallel}
    if family == "llama":
        return LlamaConfig(**TINY, n_kv_heads=2, intermediate_size=64, parallel_config=pc)
    if family == "mixtral":
        moe = MoEConfig(expert_num=4, num_experts_chosen=2, capacity_factor=0.5, aux_loss_factor=0.1)
        return LlamaConfig(**TINY, n_kv_heads=2, intermediate_size=32, moe_config=moe, parallel_config=pc)
    if family == "gpt2":
        return GPT2Config(**TINY, parallel_config=pc)
    return BloomConfig(**TINY, parallel_config=pc)


def network(family, **parallel):
    from mf_models.bloom import BloomLMHeadModel
    from mf_models.gpt2 import GPT2LMHeadModel
    from mf_models.llama import LlamaForCausalLM

    cls = {"llama": LlamaForCausalLM, "mixtral": LlamaForCausalLM, "gpt2": GPT2LMHeadModel,
           "bloom": BloomLMHeadModel}[family]
    return cls(config(family, **parallel))


def batch(rows, seed=0):
    return np.random.default_rng(seed).integers(3, 96, (rows, 9)).astype(np.int32)


PROMPT = np.array([[5, 17, 33, 2, 0, 0], [40, 41, 42, 43, 44, 45]], np.int32)
PROMPT_LENGTHS = [4, 6]
NEW_TOKENS = 5
GENERATE = ("llama", "bloom")  # GQA and ALiBi caches split by heads (each family compiles two more graphs)


def greedy(model):
    """Greedy tokens after PROMPT through the KV cache (prefill, then one decode step per token)."""
    model.set_train(False)
    logits = model.prefill(PROMPT, valid_length=PROMPT_LENGTHS, max_length=16).asnumpy()
    token = logits[np.arange(2), model.kv_cache.last_index].argmax(-1)
    out = [token]
    for _ in range(NEW_TOKENS - 1):
        token = model.decode(token).asnumpy()[:, 0].argmax(-1)
        out.append(token)
    return np.stack(out, 1)


def train_step_cell(model, optimizer, hooks=None):
    """One step: gradients, (with hooks: averaged over dp, clipped by the global norm; else clipped by MindSpore's
    clip_by_global_norm), the optimizer; returns (loss over the global batch, gradient norm)."""
    from mindspore import nn, ops

    class Step(nn.Cell):
        def __init__(self):
            super().__init__(auto_prefix=False)
            self.model, self.optimizer = model, optimizer
            self.grad_fn = ops.value_and_grad(model, None, optimizer.parameters)
            self.hooks = hooks is not None
            if self.hooks:
                self.reducer, self.norm, self.clip = hooks.grad_reducer, hooks.grad_norm, hooks.clip_grads
                self.loss_mean = hooks.loss_mean

        def construct(self, ids):
            loss, grads = self.grad_fn(ids)
            if self.hooks:
                grads = self.reducer(grads)
                norm = self.norm(grads)
                grads = self.clip(grads, MAX_NORM)
                loss = self.loss_mean(loss)
            else:
                norm = ops.sqrt(sum(ops.sum(ops.square(g)) for g in grads))
                grads = ops.clip_by_global_norm(grads, MAX_NORM)
            self.optimizer(grads)
            return loss, norm

    step = Step()
    step.set_train(True)
    return step


def optimizer_of(model):
    from mindspore import nn

    return nn.AdamWeightDecay(model.trainable_params(), learning_rate=LR, weight_decay=0.01)
