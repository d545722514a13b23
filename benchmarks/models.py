"""mf-models vs transformers (torch, CPU): forward and one AdamW training step of a tiny and a small Llama.

The training step is MindSpore's ``nn.TrainOneStepCell(model, AdamWeightDecay)`` (loss = the model's own
``construct`` in training mode); torch's is ``loss.backward(); AdamW.step()`` on the same loss.

Runs ours in MindSpore graph mode and PyNative and the same network in `transformers` on torch in one process,
float32, and prints tokens/s and the ratio ours/torch (> 1: ours is faster). Usage:

    python benchmarks/models.py [--repeat 10] [--sizes tiny small] [--no-pynative] [--threads N]

``--threads N`` gives both frameworks N CPU threads (torch.set_num_threads, MindSpore runtime_num_threads);
by default each uses its own default. On a shared machine, medians of several repeats are printed.
"""

import argparse
import statistics
import time

import mindspore as ms  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from mindspore import nn  # noqa: E402

from mf_config import preset  # noqa: E402
from mf_models import LlamaForCausalLM  # noqa: E402

SIZES = {  # name: (layers, hidden, heads, kv heads, vocab, seq, batch)
    "tiny": (2, 256, 4, 2, 1000, 128, 4),
    "small": (4, 512, 8, 4, 1000, 256, 4),
}


def configs(size):
    layers, hidden, heads, kv, vocab, seq, _ = SIZES[size]
    ours = preset("llama", "tiny", num_layers=layers, hidden_size=hidden, num_heads=heads, n_kv_heads=kv,
                  vocab_size=vocab, seq_length=seq + 1, intermediate_size=None)  # Llama's rule: 768, 1536
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

    # a Cell, so graph mode compiles it once: an ms.jit-wrapped Python step closing over the network costs
    # ~200 ms more per call here (MindSpore 2.10)
    step = nn.TrainOneStepCell(model, nn.AdamWeightDecay(model.trainable_params(), learning_rate=1e-4))

    def train():
        step.set_train(True)
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
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for both frameworks")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
        ms.set_context(runtime_num_threads=args.threads)
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), mindspore {ms.__version__} "
          f"({ms.get_context('runtime_num_threads')} threads), float32")
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
