"""mf-models vs transformers (torch, CPU): forward and one AdamW training step of a tiny and a small Llama.

The training step is MindSpore's ``nn.TrainOneStepCell(model, AdamWeightDecay)`` (loss = the model's own
``construct`` in training mode); torch's is ``loss.backward(); AdamW.step()`` on the same loss.

Runs ours in MindSpore graph mode and PyNative and the same network in `transformers` on torch in one process,
float32. The sides take turns call by call (torch, ours, then ours, torch, ...); each row shows the first call
(compile, warm-up: cold), the fastest later call's wall and the least CPU time (all threads), the cores used
(CPU / wall), tokens/s and the ratios torch/ours of wall and of CPU time (> 1: ours is faster / cheaper). Usage:

    python benchmarks/models.py [--repeat 10] [--sizes tiny small] [--no-pynative] [--threads N] [--pin]

``--threads N`` gives both frameworks N CPU threads (see _common.py: OMP env, torch.set_num_threads, MindSpore's
runtime and kernel threads) and verifies each used at most N cores; ``--pin`` runs on one pinned core.
"""

import argparse

import _common

THREADS = _common.cpu_setup()  # before torch and MindSpore load: they read the thread env once

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
    _common.add_cpu_args(parser)
    args = parser.parse_args()
    _common.frameworks(THREADS)
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), mindspore {ms.__version__} "
          f"({ms.get_context('runtime_num_threads')} runtime threads), float32; {_common.describe(THREADS)}")
    print(f"before: {_common.load()}")
    print(f"{'size':<6} {'what':<8} {'impl':<14} {'first ms':>9} {'ms/iter':>9} {'CPU ms':>8} {'cores':>5} "
          f"{'tokens/s':>10} {'torch/ours wall, CPU':>21}")
    cores = []
    for size in args.sizes:
        _, _, _, _, vocab, seq, batch = SIZES[size]
        ours, hf = configs(size)
        ids = np.random.default_rng(0).integers(0, vocab, (batch, seq + 1)).astype(np.int32)
        theirs = torch_fns(hf, ids)
        modes = [("ours graph", True, args.repeat)]
        modes += [] if args.no_pynative else [("ours pynative", False, max(2, args.repeat // 5))]
        for name, graph, reps in modes:
            mine = ours_fns(ours, ids, graph)
            for i, what in enumerate(("forward", "train")):
                torch_runs, our_runs = _common.interleave([theirs[i], mine[i]], reps)
                if graph:
                    row(size, what, "torch", torch_runs, batch * seq)
                row(size, what, name, our_runs, batch * seq, torch_runs)
                cores += [(f"{size} {what} {side}", runs.cores()) for side, runs in (("torch", torch_runs),
                                                                                       (name, our_runs))]
    for what, used in cores:
        _common.check_cores(what, used, THREADS)
    print("target: none for models.py in issue 18 (decode on one core: generate.py)")
    print(f"after: {_common.load()}")


def row(size, what, name, runs, tokens, torch_runs=None):
    wall, cpu = runs.best()
    ratios = _common.ratio_cols(runs.best(), torch_runs.best()) if torch_runs else f"{'':>12}"
    print(f"{size:<6} {what:<8} {name:<14} {runs.first[0] * 1e3:9.1f} {wall * 1e3:9.1f} {cpu * 1e3:8.1f} "
          f"{runs.cores():5.2f} {tokens / wall:10,.0f} {ratios:>21}", flush=True)


if __name__ == "__main__":
    main()
