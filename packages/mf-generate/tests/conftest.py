"""Shared fixtures: graph mode (as users run), tiny random Hugging Face models saved by transformers, and
their conversion to our format by mf-ckpt."""

import mindspore as ms
import pytest
import torch
import transformers

ms.set_context(mode=ms.GRAPH_MODE)

HF_CASES = {
    "llama": ("LlamaForCausalLM", transformers.LlamaConfig, dict(
        vocab_size=96, hidden_size=64, intermediate_size=80, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, rope_theta=500000.0, max_position_embeddings=64)),
    "mixtral": ("MixtralForCausalLM", transformers.MixtralConfig, dict(
        vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2, max_position_embeddings=64)),
    "gpt2": ("GPT2LMHeadModel", transformers.GPT2Config, dict(
        vocab_size=96, n_embd=48, n_layer=2, n_head=4, n_positions=64, bos_token_id=1, eos_token_id=2)),
    "bloom": ("BloomForCausalLM", transformers.BloomConfig, dict(vocab_size=96, hidden_size=48, n_layer=2, n_head=4,
                                                                 seq_length=64)),
    "qwen2": ("Qwen2ForCausalLM", transformers.Qwen2Config, dict(
        vocab_size=96, hidden_size=64, intermediate_size=80, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2)),
}


def make_hf_model(case, seed=0):
    """A random float32 transformers model (norms and biases randomised too), in eval mode."""
    arch, config_cls, kwargs = HF_CASES[case]
    torch.manual_seed(seed)
    model = getattr(transformers, arch)(config_cls(**kwargs)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or "ln" in name or name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.1)
    return model


@pytest.fixture(scope="session")
def hf_folders(tmp_path_factory):
    """case -> (Hugging Face folder written by transformers, the transformers model)."""
    out = {}
    for case in HF_CASES:
        folder = tmp_path_factory.mktemp(f"hf_{case}")
        model = make_hf_model(case)
        model.save_pretrained(folder)
        out[case] = folder, model
    return out


@pytest.fixture(scope="session")
def llama(hf_folders):
    """Our tiny Llama converted from the Hugging Face one (loaded once for the session)."""
    from mf_generate.loading import load_pretrained

    model, _ = load_pretrained(hf_folders["llama"][0])
    return model


SENTENCES = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "MindSpore runs the same network on Ascend devices and on the CPU.",
    "A tiny model can learn a few short sentences by heart.",
    "Generation with a key value cache reads each token only once.",
]


def train_tiny_llama(folder, text_file, steps=300):
    """A SentencePiece tokenizer and a tiny Llama trained with a plain MindSpore loop until it has learned
    SENTENCES by heart; both saved in ``folder`` (config.json, model.safetensors, tokenizer files)."""
    import mindspore as ms
    import numpy as np
    import sentencepiece as spm
    from mindspore import nn

    from mf_config import preset
    from mf_models import LlamaForCausalLM
    from mf_tokenizers import LlamaTokenizer

    corpus = folder / "corpus.txt"
    lines = text_file.read_text(encoding="utf-8").splitlines()[:3000]
    corpus.write_text("\n".join(SENTENCES * 20 + lines), encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(folder / "sp"), vocab_size=400,
                                   model_type="bpe", byte_fallback=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
                                   minloglevel=2)
    corpus.unlink()
    tokenizer = LlamaTokenizer(vocab_file=str(folder / "sp.model"))
    ids = [tokenizer.encode(s) + [tokenizer.eos_token_id] for s in SENTENCES]
    width = max(map(len, ids)) + 1
    batch = np.zeros((len(ids), width), np.int32)
    for i, row in enumerate(ids):
        batch[i, :len(row)] = row
    config = preset("llama", "tiny", hidden_size=64, intermediate_size=128, vocab_size=tokenizer.vocab_size,
                    seq_length=64, do_sample=False, max_decode_length=64)
    ms.set_seed(0)
    model = LlamaForCausalLM(config)
    model.set_train(True)
    step = nn.TrainOneStepCell(model, nn.AdamWeightDecay(model.trainable_params(), learning_rate=3e-3))
    data = ms.Tensor(batch)
    for _ in range(steps):
        loss = step(data)
    model.set_train(False)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "sp.model").unlink()
    (folder / "sp.vocab").unlink()
    return float(loss.asnumpy())


@pytest.fixture(scope="session")
def trained(tmp_path_factory, mf_assets):
    """(folder of a tiny Llama that has memorised SENTENCES, with its tokenizer; final training loss)."""
    folder = tmp_path_factory.mktemp("memorised")
    loss = train_tiny_llama(folder, mf_assets / "text" / "wiki.train.tokens")
    return folder, loss


@pytest.fixture(scope="session")
def memorised(trained):
    """(network, tokenizer) of the trained tiny Llama, loaded once."""
    from mf_generate.loading import load_pretrained
    from mf_tokenizers import AutoTokenizer

    folder, _ = trained
    return load_pretrained(folder)[0], AutoTokenizer.from_pretrained(folder)


def texts(stdout):
    """Prompt + completion of each result `run` printed: the prompt, the separator line, the completion."""
    out = []
    for block in stdout.strip("\n").split("\n\n"):
        prompt, separator, completion = block.split("\n", 2)
        assert separator == "--- completion ---", block
        out.append(prompt + completion)
    return out
