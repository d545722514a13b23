"""Shared fixtures: graph mode (as users run), tiny random Hugging Face models saved by transformers, and
their conversion to our format by mf-ckpt."""

import mindspore as ms
import pytest

from .helpers import HF_CASES, SENTENCES, make_hf_model

pytest_plugins = ["mf_config.pytest_plugin"]  # mf_assets

ms.set_context(mode=ms.GRAPH_MODE)


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

