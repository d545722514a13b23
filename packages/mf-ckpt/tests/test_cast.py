"""Casts stream a slice at a time and give torch's bits: bf16 -> fp16, bf16 -> fp32, fp32 -> bf16 (round to nearest
even), fp16 -> bf16, read from the file (``cast``, renamed tensors in ``convert``) or from arrays (transposed ones);
the same bytes as the whole-array cast (``dtypes.cast``) they replace."""

import numpy as np
import pytest
import safetensors.numpy
import safetensors.torch
import torch

from mf_ckpt import dtypes

from .hf_models import make_model

TORCH = {"fp16": torch.float16, "fp32": torch.float32, "bf16": torch.bfloat16}
ST = {"fp16": "F16", "fp32": "F32", "bf16": "BF16"}


@pytest.fixture
def small_pieces(monkeypatch):
    """Pieces of 4 KB: every tensor here is cast in many slices, the last one short."""
    monkeypatch.setattr(dtypes, "PIECE_BYTES", 4096)


def bits(t):
    return t.view({1: torch.uint8, 2: torch.int16, 4: torch.int32}[t.element_size()])


def assert_like_torch(got, source, dtype, name):
    """``got`` is torch's cast of ``source`` to ``dtype`` bit for bit, NaN for NaN (payloads may differ: torch
    makes every NaN its canonical one)."""
    expected = source.to(dtype)
    assert got.dtype == dtype and got.shape == expected.shape, name
    nan = expected.isnan()
    assert torch.equal(got.isnan(), nan), name
    assert torch.equal(bits(got)[~nan], bits(expected)[~nan]), name


@pytest.fixture(scope="module")
def patterns(tmp_path_factory):
    """Every bf16 and every fp16 bit pattern, and fp32 patterns: random ones, ties to even, NaNs, overflows."""
    rng = np.random.default_rng(0)
    special = np.array([0x7FC00001, 0xFFC12345, 0x7F800001, 0x3F808000, 0x3F818000, 0x477FF000, 0x477FEFFF,
                        0x00000001, 0x80000000, 0x7F7FFFFF], np.uint32)
    every = torch.arange(-(1 << 15), 1 << 15, dtype=torch.int32).to(torch.int16)
    source = {"bf": every.view(torch.bfloat16).reshape(256, 256), "h": every.view(torch.float16)[:-3].clone(),
              "f": torch.from_numpy(np.concatenate([rng.integers(0, 1 << 32, 5000, np.uint32), special]).view(
                  np.float32)).reshape(-1, 5), "i": torch.arange(7, dtype=torch.int32)}
    path = tmp_path_factory.mktemp("patterns") / "patterns.safetensors"
    safetensors.torch.save_file(source, path)
    return path, source


@pytest.mark.parametrize("dtype", ["fp16", "fp32", "bf16"])
def test_cast_streams_torch_bits(patterns, dtype, tmp_path, cli, small_pieces):
    path, source = patterns
    result = cli("cast", path, tmp_path / "out.safetensors", "--dtype", dtype)
    assert result.exit_code == 0, result.output
    got = safetensors.torch.load_file(tmp_path / "out.safetensors")
    for name in ("bf", "h", "f"):
        assert_like_torch(got[name], source[name], TORCH[dtype], name)
    assert torch.equal(got["i"], source["i"])  # integers are kept
    # the very bytes of the whole-array cast this streaming replaced
    arrays, out = safetensors.numpy.load_file(path), safetensors.numpy.load_file(tmp_path / "out.safetensors")
    for name, array in arrays.items():
        assert out[name].tobytes() == dtypes.cast(array, ST[dtype]).tobytes(), name


@pytest.mark.parametrize("dtype", ["fp16", "fp32", "bf16"])
def test_cast_pieces_of_strided_arrays(patterns, dtype):
    """Transposed, sliced and stacked views: the pieces, joined, are the C-order cast of the array."""
    _, source = patterns
    base = source["bf"].float().numpy().reshape(64, 32, 32)
    for view in (base.transpose(2, 0, 1), base[:, ::3], base[5], base[:, :, 7], base.T[::-1]):
        for piece_bytes in (1, 100, 4096, 1 << 20):
            joined = np.concatenate([p.copy() for p in dtypes.cast_pieces(view, ST[dtype], piece_bytes)])
            assert joined.tobytes() == dtypes.cast(np.ascontiguousarray(view), ST[dtype]).tobytes()


@pytest.mark.parametrize(("case", "source_dtype", "dtype"), [("gpt2", torch.float32, "fp16"),
                                                              ("llama_gqa", torch.bfloat16, "fp32"),
                                                              ("llama_gqa", torch.bfloat16, "fp16"),
                                                              ("gpt2", torch.float32, "bf16")])
def test_convert_with_dtype_casts_like_torch(case, source_dtype, dtype, tmp_path, cli, small_pieces):
    """HF -> ours with --dtype (renamed tensors stream from the file, GPT-2's transposed Conv1D weights from
    arrays), then back unchanged: every tensor is torch's cast of the original."""
    model = make_model(case).to(source_dtype)
    model.save_pretrained(tmp_path / "hf")
    result = cli("convert", "--input_path", tmp_path / "hf", "--output_path", tmp_path / "ours", "--dtype", dtype)
    assert result.exit_code == 0, result.output
    result = cli("convert", "--reversed", "--input_path", tmp_path / "ours", "--output_path", tmp_path / "back")
    assert result.exit_code == 0, result.output
    original = safetensors.torch.load_file(tmp_path / "hf/model.safetensors")
    back = safetensors.torch.load_file(tmp_path / "back/model.safetensors")
    assert back.keys() <= original.keys() and len(back) > 5
    for name, tensor in back.items():
        assert_like_torch(tensor, original[name], TORCH[dtype], name)
    assert cli("verify", tmp_path / "ours").exit_code == 0
