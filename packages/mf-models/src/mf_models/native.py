"""Fused float32 CPU kernels (``native.cc``) for the element-wise work of training and decoding.

MindSpore 2.10's CPU kernels for element-wise ops run on one thread at a fraction of torch's speed (a sigmoid of
5.8 M floats ~9 ms against torch's 3 ms on two threads, SiLU times up ~18 ms against 2) and each writes a
full-size temporary. ``native.cc`` does SwiGLU's product, attention's softmax with its additive mask, RMSNorm,
cross-entropy and their gradients, MindSpore's AdamWeightDecay step (in place) and a sum of squares in one pass
each (vectorised, split over threads), as MindSpore "aot" Custom ops.

The library is compiled on first use with the system's C++ compiler (``$CXX``, else ``g++``) for this CPU into
``$XDG_CACHE_HOME/mf/kernels`` (default ``~/.cache/mf/kernels``; the name carries a digest of the source, the
flags, the compiler and the CPU's features; built in a temporary folder and renamed, so two processes may race).
Without a compiler, on a failed build, off the CPU backend, or with ``MF_NATIVE_KERNELS=0``, ``library()`` is None
and the networks use MindSpore's own ops (one warning says why when a build fails). The kernels use
``runtime_num_threads`` threads when the context sets it, else the process's cores.
"""

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import time
from functools import cache
from pathlib import Path

import mindspore as ms
from mindspore import nn, ops

from mf_models.compile_cache import user_cache
from mf_models.runtime import usable_cores

logger = logging.getLogger("mf_models")
ENV = "MF_NATIVE_KERNELS"
SOURCE = Path(__file__).with_name("native.cc")
# compiled with -ffast-math (vectorised expf) but linked without it: GCC 12 links crtfastmath.o into a shared
# library built with it, which turns on flush-to-zero for the whole process that loads it
COMPILE = ["-O3", "-march=native", "-ffast-math", "-fopenmp-simd", "-pthread", "-fPIC", "-c"]
LINK = ["-shared", "-pthread"]
STALE_BUILD_S = 3600


def _cpu_features() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return platform.processor()


def _build(compiler: str) -> Path:
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=True).stdout
    digest = hashlib.sha256("\n".join([SOURCE.read_text(), " ".join(COMPILE + LINK), version, _cpu_features(),
                                       platform.machine()]).encode()).hexdigest()[:16]
    root = user_cache("kernels")
    _remove_stale_builds(root)
    target = root / f"mf_native_{digest}.so"
    if target.exists():
        return target
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".build-") as tmp:
        obj, lib = Path(tmp) / "native.o", Path(tmp) / "native.so"
        for command in ([compiler, *COMPILE, "-o", str(obj), str(SOURCE)], [compiler, *LINK, "-o", str(lib), str(obj)]):
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no output")
        os.replace(lib, target)
    return target


def _remove_stale_builds(root: Path) -> None:
    """Temporary build folders that a killed build left behind (untouched for an hour: a build takes seconds)."""
    for folder in root.glob(".build-*") if root.is_dir() else ():
        try:
            if time.time() - folder.stat().st_mtime > STALE_BUILD_S:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass  # removed by another process meanwhile


def threads() -> int:
    """The kernels' threads: the context's ``runtime_num_threads`` when set below the process's cores."""
    cores = usable_cores()
    try:
        wanted = ms.get_context("runtime_num_threads")
    except (ValueError, RuntimeError):
        wanted = None
    return max(1, min(cores, wanted)) if isinstance(wanted, int) and wanted > 0 else cores


@cache
def library() -> Path | None:
    """The compiled kernels' path, or None when the networks should use MindSpore's ops (see the module)."""
    if os.environ.get(ENV, "1") == "0" or ms.get_context("device_target") != "CPU":
        return None
    compiler = shutil.which(os.environ.get("CXX") or "g++")
    if compiler is None:
        return None
    try:
        path = _build(compiler)
        ctypes.CDLL(str(path)).mf_native_set_threads(threads())
    except (OSError, RuntimeError, subprocess.SubprocessError) as e:
        logger.warning("mf_models: fused CPU kernels unavailable (%s: %s); using MindSpore's ops", compiler, e)
        return None
    return path


def _first(*shapes_or_types):
    return shapes_or_types[0]


def _first_two(*shapes):
    return tuple(shapes[:2])


def _first_twice(*types):
    return types[0], types[0]


def _rows(x, *rest):
    return x, x[:-1]


def _labels_twice(logits, labels):
    return labels, labels


def _one(*shapes):
    return [1]


def _op(name, out_shape=_first, out_dtype=_first):
    """The kernel ``name`` of the library as a MindSpore "aot" Custom op."""
    return ops.Custom(f"{library()}:{name}", out_shape=out_shape, out_dtype=out_dtype, func_type="aot")


def fused(kernel, *dtypes):
    """``kernel()`` (a Cell below) when the library is there and every dtype the layer computes in is float32,
    else None: the layer then uses MindSpore's ops."""
    return kernel() if library() is not None and all(d == ms.float32 for d in dtypes) else None


class SwiGLUProduct(nn.Cell):
    """``silu(gate) * up`` in one pass, and its gradient in one."""

    def __init__(self):
        super().__init__()
        self.forward = _op("mf_swiglu")
        self.backward = _op("mf_swiglu_grad", _first_two, _first_twice)

    def construct(self, gate, up):
        return self.forward(gate, up)

    def bprop(self, gate, up, out, dout):
        return self.backward(gate, up, dout)


class SoftmaxWithBias(nn.Cell):
    """``softmax(scores + bias)`` over the last axis: scores (b, h, s, L), bias (b, 1 or h, s, L), a constant
    (the mask, ALiBi: its gradient is zero)."""

    def __init__(self):
        super().__init__()
        self.forward = _op("mf_softmax_bias")
        self.backward = _op("mf_softmax_grad")

    def construct(self, scores, bias):
        return self.forward(scores, bias)

    def bprop(self, scores, bias, out, dout):
        return self.backward(out, dout), ops.zeros_like(bias)


class CrossEntropyKernel(nn.Cell):
    """Per-row cross-entropy ``logsumexp(logits) - logits[label]`` of float32 logits (n, v) and int32 labels (n,)
    in [0, v); the backward pass recomputes the softmax from the logits and the saved logsumexp."""

    def __init__(self):
        super().__init__()
        self.forward = _op("mf_cross_entropy", _labels_twice, _first_twice)
        self.backward = _op("mf_cross_entropy_grad")

    def construct(self, logits, labels):
        return self.forward(logits, labels)

    def bprop(self, logits, labels, out, dout):
        return self.backward(logits, labels, out[1], dout[0]), ops.zeros_like(labels)


class AdamWeightDecayKernel(nn.Cell):
    """MindSpore's ``AdamWeightDecay`` update of float32 ``param``, ``m`` and ``v`` in place, called as that
    primitive is: ``(param, m, v, lr, beta1, beta2, eps, weight_decay, grad)``, plus ``grad_scale`` (the update uses
    ``grad * grad_scale``: a train step's unscale-and-clip factor, without a scaled copy of the gradient); returns a
    (1,) zero.

    The kernel writes memory MindSpore does not see it write: the caller runs it after every read of ``param`` in
    the step (``ops.depend`` on all gradients) and depends on its output."""

    def __init__(self):
        super().__init__()
        self.kernel = _op("mf_adam_weight_decay", _one)

    def construct(self, param, m, v, lr, beta1, beta2, eps, weight_decay, grad, grad_scale):
        hyper = ops.stack((_f32(lr), _f32(beta1), _f32(beta2), _f32(eps), _f32(weight_decay), _f32(grad_scale)))
        return self.kernel(param, m, v, grad, hyper)


def _f32(x):
    return ops.cast(x, ms.float32).reshape(()) if isinstance(x, ms.Tensor) else ms.Tensor(x, ms.float32)


def sum_of_squares():
    """A Custom op: the (1,) float32 sum of squares of a float32 tensor in one pass (MindSpore's ``Square`` writes a
    full-size temporary first); None without the library."""
    return _op("mf_sum_of_squares", _one) if library() is not None else None


class RMSNormKernel(nn.Cell):
    """``x * rsqrt(mean(x^2) + eps) * weight`` over the last axis, eps a (1,) tensor; the backward pass reuses the
    forward's inverse root mean square."""

    def __init__(self):
        super().__init__()
        self.forward = _op("mf_rms_norm", _rows, _first_twice)
        self.backward = _op("mf_rms_norm_grad", _first_two, _first_twice)

    def construct(self, x, weight, eps):
        return self.forward(x, weight, eps)

    def bprop(self, x, weight, eps, out, dout):
        dx, dw = self.backward(x, weight, out[1], dout[0])
        return dx, dw.reshape(weight.shape), ops.zeros_like(eps)
