import pytest
import torch
from click.testing import CliRunner

from mf_ckpt.cli import main

from .hf_models import CASES, make_model

pytest_plugins = ["mf_config.pytest_plugin"]  # budget (reliability tests)


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


@pytest.fixture(scope="session")
def hf(tmp_path_factory):
    """case -> (folder of the saved HF model, the model)."""
    out = {}
    for case in CASES:
        folder = tmp_path_factory.mktemp(case)
        model = make_model(case)
        model.save_pretrained(folder)
        out[case] = (folder, model)
    return out


@pytest.fixture(scope="session")
def converted(hf, tmp_path_factory):
    """case -> (ours folder, HF-again folder), made with the CLI (no --model: config.json says)."""
    from click.testing import CliRunner

    from mf_ckpt.cli import main

    out = {}
    for case, (folder, _) in hf.items():
        base = tmp_path_factory.mktemp(f"{case}_out")
        ours, back = base / "ours", base / "back"
        r = CliRunner().invoke(main, ["convert", "--input_path", str(folder), "--output_path", str(ours)])
        assert r.exit_code == 0, r.output
        r = CliRunner().invoke(main, ["convert", "--reversed", "--input_path", str(ours), "--output_path", str(back),
                                      "--max_shard_size", "20KB"])
        assert r.exit_code == 0, r.output
        out[case] = ours, back
    return out
