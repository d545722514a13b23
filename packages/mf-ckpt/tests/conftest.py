import pytest
import torch
from click.testing import CliRunner

from mf_ckpt.cli import main


@pytest.fixture
def cli():
    """Run ``mf-ckpt ARGS``; returns click's Result (exit_code, output, stderr)."""

    def run(*args):
        return CliRunner().invoke(main, [str(a) for a in args])

    return run


@pytest.fixture(scope="module")
def state():
    """A small state dict with every common dtype, bf16 included, and optimizer state."""
    g = torch.Generator().manual_seed(0)
    return {
        "model.w": torch.randn(16, 8, generator=g),
        "model.h": torch.randn(4, 3, 2, generator=g).half(),
        "model.b": torch.randn(33, generator=g).bfloat16(),
        "model.ids": torch.arange(10, dtype=torch.int64),
        "model.mask": torch.tensor([True, False, True]),
        "model.scalar": torch.tensor(3.5),
        "adam_m.model.w": torch.randn(16, 8, generator=g),
        "adam_v.model.w": torch.rand(16, 8, generator=g),
        "accu_grads.model.w": torch.zeros(16, 8),
        "global_step": torch.tensor([7], dtype=torch.int32),
    }
