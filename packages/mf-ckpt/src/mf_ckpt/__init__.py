"""mf-ckpt: Weight conversion HF <-> MindSpore, inspection, sharded-checkpoint merge/split."""

__version__ = "0.2.0"
