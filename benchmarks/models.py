"""mf-models vs transformers (torch, CPU): forward and one AdamW training step of a tiny and a small Llama.

Runs ours in MindSpore graph mode and PyNative and the same network in `transformers` on torch in one process,
float32, and prints tokens/s and the ratio ours/torch (> 1: ours is faster). Usage:

    python benchmarks/models.py [--repeat 10] [--sizes tiny small] [--no-pynative]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

# benchmarks/tokenizers.py would shadow the `tokenizers` package that transformers imports
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import mindspore as ms  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from mf_config import LlamaConfig  # noqa: E402
from mindspore import nn  # noqa: E402

from mf_models import LlamaForCausalLM  # noqa: E402

SIZES = {  # name: (layers, hidden, heads, kv heads, vocab, seq, batch)
    "tiny": (2, 256, 4, 2, 1000, 128, 4),
    "small": (4, 512, 8, 4, 1000, 256, 4),
}


def configs(size):
    layers, hidden, heads, kv, vocab, seq, _ = SIZES[size]
    ours = LlamaConfig(num_layers=layers, hidden_size=hidden, num_heads=heads, n_kv_heads=kv, vocab_size=vocab,
                       seq_length=seq + 1, compute_dtype="float32", param_init_type="float32")
    hf = transformers.LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=ours.ffn_hidden_size,
                                  num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv,
                                  max_position_embeddings=seq + 1, tie_word_embeddings=False)
    return ours, hf


def timed(fn, repeat):
    fn()  # compile / warm up
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ours_fns(config, ids, graph):
    ms.set_context(mode=ms.GRAPH_MODE if graph else ms.PYNATIVE_MODE)
    model = LlamaForCausalLM(config)
    model.set_train(False)
    fwd_ids = ms.Tensor(ids[:, :-1])
    train_ids = ms.Tensor(ids)

    def forward():
        model.set_train(False)
        model(fwd_ids).asnumpy()

    optimizer = nn.AdamWeightDecay(model.trainable_params(), learning_rate=1e-4)
    grad_fn = ms.value_and_grad(model, None, optimizer.parameters)

    def step(x):
        loss, grads = grad_fn(x)
        optimizer(grads)
        return loss

    step = ms.jit(step) if graph else step

    def train():
        model.set_train(True)
        step(train_ids).asnumpy()

    return forward, train


def torch_fns(hf_config, ids):
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(hf_config).float()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.from_numpy(ids.astype(np.int64))

    def forward():
        model.eval()
        with torch.no_grad():
            model(x[:, :-1]).logits.numpy()

    def train():
        model.train()
        logits = model(x[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, hf_config.vocab_size), x[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return forward, train


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--no-pynative", action="store_true", help="skip PyNative (slow)")
    args = parser.parse_args()
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), mindspore {ms.__version__}, float32")
    print(f"{'size':<6} {'what':<8} {'impl':<14} {'ms/iter':>9} {'tokens/s':>10} {'ours/torch':>10}")
    for size in args.sizes:
        layers, hidden, heads, kv, vocab, seq, batch = SIZES[size]
        ours, hf = configs(size)
        ids = np.random.default_rng(0).integers(0, vocab, (batch, seq + 1)).astype(np.int32)
        tokens = batch * seq
        results = {}
        t_fwd, t_train = torch_fns(hf, ids)
        results["torch"] = (timed(t_fwd, args.repeat), timed(t_train, args.repeat))
        modes = [("ours graph", True)] + ([] if args.no_pynative else [("ours pynative", False)])
        for name, graph in modes:
            fwd, train = ours_fns(ours, ids, graph)
            reps = args.repeat if graph else max(2, args.repeat // 5)
            results[name] = (timed(fwd, reps), timed(train, reps))
        for i, what in enumerate(("forward", "train")):
            for name, times in results.items():
                ratio = results["torch"][i] / times[i]
                print(f"{size:<6} {what:<8} {name:<14} {times[i] * 1e3:9.1f} {tokens / times[i]:10,.0f} "
                      f"{ratio:10.2f}")


if __name__ == "__main__":
    main()
