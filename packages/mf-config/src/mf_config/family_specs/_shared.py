"""What several families' specs share: the common config.json keys, the tiny test sizes, LayerNorm rules."""

from mf_config.rules import Rename

# (HF key, our key) pairs every decoder family has
COMMON_KEYS = (("vocab_size", "vocab_size"), ("bos_token_id", "bos_token_id"), ("eos_token_id", "eos_token_id"),
               ("pad_token_id", "pad_token_id"), ("initializer_range", "initializer_range"),
               ("tie_word_embeddings", "tie_word_embeddings"))
# the ``tiny`` preset of every family: what the tests build (and what runs on the CPU backend: float32)
TINY = dict(num_layers=2, hidden_size=32, num_heads=4, vocab_size=97, seq_length=32, compute_dtype="float32",
            param_init_type="float32", bos_token_id=1, eos_token_id=2, pad_token_id=0)


def norm(ours, hf, h):
    """A LayerNorm: HF's ``weight``/``bias`` are MindFormers' ``gamma``/``beta``."""
    return [Rename(f"{ours}.gamma", f"{hf}.weight", (h,)), Rename(f"{ours}.beta", f"{hf}.bias", (h,))]
