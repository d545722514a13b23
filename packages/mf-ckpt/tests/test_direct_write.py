"""Files written from memory go straight to the disk: their bytes are the bytes given, and their block digests are
what the manifest reads back from the file (any block size, any chunk size, files that end anywhere)."""

import errno
import os

import numpy as np
import pytest

from mf_ckpt import direct_write, manifest


def _write(path, pieces, chunk):
    with direct_write.create(path, chunk=chunk) as f:
        for piece in pieces:
            f.write(piece)
        assert f.tell() == sum(len(memoryview(p).cast("B")) if not hasattr(p, "dtype") else p.nbytes for p in pieces)
        return f.result(f.tell())


@pytest.mark.parametrize("block", [64, 4096, 3 * 4096, 1 << 20])
@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 8192, 3 * 8192 + 17, 100_000])
def test_bytes_and_block_digests_match_the_file(tmp_path, monkeypatch, block, size):
    monkeypatch.setattr(manifest, "BLOCK", block)
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    cuts = sorted({0, size, *np.random.default_rng(block).integers(0, size + 1, 5).tolist()})
    pieces = [data[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
    digests = _write(tmp_path / "out.bin", pieces, chunk=8192)
    assert (tmp_path / "out.bin").read_bytes() == data
    assert digests == manifest.file_blocks(tmp_path / "out.bin")
    assert len(digests) == manifest.block_count(size, block)


def test_arrays_of_any_dtype_are_written_as_their_bytes(tmp_path):
    import ml_dtypes

    arrays = [np.arange(5000, dtype=np.float32), np.arange(3, dtype=ml_dtypes.bfloat16), np.eye(7, dtype=np.float16),
              memoryview(b"header")]
    _write(tmp_path / "out.bin", arrays, chunk=4096)
    expected = b"".join(a.tobytes() if hasattr(a, "tobytes") and hasattr(a, "dtype") else bytes(a) for a in arrays)
    assert (tmp_path / "out.bin").read_bytes() == expected


def test_a_filesystem_that_refuses_direct_writes_gets_them_through_the_page_cache(tmp_path, monkeypatch):
    real_pwrite = os.pwrite

    def pwrite(fd, data, offset):
        import fcntl

        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", pwrite)
    data = os.urandom(20_000)
    digests = _write(tmp_path / "out.bin", [data], chunk=8192)
    assert (tmp_path / "out.bin").read_bytes() == data
    assert digests == manifest.file_blocks(tmp_path / "out.bin")


def test_a_full_disk_is_raised_to_the_writer(tmp_path, monkeypatch):
    def pwrite(fd, data, offset):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", pwrite)
    with pytest.raises(OSError) as e, direct_write.create(tmp_path / "out.bin", chunk=4096) as f:
        f.write(bytes(50_000))
        f.result(f.tell())
    assert e.value.errno == errno.ENOSPC
