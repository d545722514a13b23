"""The fused CPU kernels (mf_models.native): each against MindSpore's own ops, forward and gradients, in graph mode
and PyNative; whole networks with and without them; and the library's build, its fallbacks, and that loading it
leaves the process's floating-point state alone."""

import shutil
import threading

import mindspore as ms
import numpy as np
import pytest
from mindspore import nn, ops

from mf_models import native
from mf_models.broadcast import softmax

from .helpers import build

needs_compiler = pytest.mark.skipif(shutil.which("g++") is None, reason="no C++ compiler: the kernels cannot build")
RNG = np.random.default_rng(11)


def tensor(*shape, scale=1.0):
    return ms.Tensor((RNG.normal(size=shape) * scale).astype(np.float32))


class Weighted(nn.Cell):
    """sum(f(*inputs) * w): a scalar whose gradient weighs each output element differently."""

    def __init__(self, f, w):
        super().__init__()
        self.f = f
        self.w = w

    def construct(self, *inputs):
        return ops.sum(self.f(*inputs) * self.w)


def value_and_grads(f, inputs, positions, graph):
    ms.set_context(mode=ms.GRAPH_MODE if graph else ms.PYNATIVE_MODE)
    try:
        probe = f(*inputs)
        weights = np.random.default_rng(0).normal(size=probe.shape).astype(np.float32)  # the same for both sides
        net = Weighted(f, ms.Tensor(weights))
        grads = ms.grad(net, grad_position=positions)(*inputs)
        grads = grads if isinstance(grads, tuple) else (grads,)
        return f(*inputs).asnumpy(), [g.asnumpy() for g in grads]
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)


def assert_same(ours, theirs, atol=1e-5):
    (a, grads_a), (b, grads_b) = ours, theirs
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=atol)
    for ga, gb in zip(grads_a, grads_b):
        assert np.abs(gb).max() > 1e-4  # the gradient is not trivially zero
        np.testing.assert_allclose(ga, gb, rtol=1e-4, atol=atol)


class Call(nn.Cell):
    """A Cell around a kernel Cell or MindSpore's ops, chosen by ``fused``."""

    def __init__(self, fused, reference, kernel=None, pick=None):
        super().__init__()
        self.kernel = kernel() if fused else None
        self.reference = reference
        self.pick = pick

    def construct(self, *inputs):
        if self.kernel is None:
            return self.reference(*inputs)
        out = self.kernel(*inputs)
        return out if self.pick is None else out[self.pick]


@needs_compiler
@pytest.mark.parametrize("graph", [True, False])
def test_swiglu_product_equals_silu_times_up(graph):
    def reference(gate, up):
        return ops.silu(gate) * up

    gate, up = tensor(3, 40, 96, scale=3), tensor(3, 40, 96)
    ours, theirs = (value_and_grads(Call(fused, reference, native.SwiGLUProduct),
                                    (gate, up), (0, 1), graph) for fused in (True, False))
    assert_same(ours, theirs)


@needs_compiler
@pytest.mark.parametrize("graph", [True, False])
@pytest.mark.parametrize("bias_heads", [1, 4])  # a causal mask (shared by the heads) or ALiBi (one per head)
def test_softmax_with_bias_equals_softmax_of_the_sum(graph, bias_heads):
    b, h, s, length = 2, 4, 9, 12
    scores = tensor(b, h, s, length, scale=3)
    causal = np.where(np.arange(length)[None, :] <= np.arange(s)[:, None] + 3, 0.0, -1e9)
    causal[:, :2] = -1e9  # left padding: masked keys at the start of every row
    bias = ms.Tensor((causal + RNG.normal(size=(b, bias_heads, s, length))).astype(np.float32))

    def reference(x, bias):
        return softmax(x + ops.broadcast_to(bias, x.shape))

    ours, theirs = (value_and_grads(Call(fused, reference, native.SoftmaxWithBias), (scores, bias), (0,), graph)
                    for fused in (True, False))
    assert_same(ours, theirs)
    assert ours[0][..., :2].max() == 0.0  # masked keys get nothing


@needs_compiler
@pytest.mark.parametrize("graph", [True, False])
def test_rms_norm_kernel_equals_its_formula(graph):
    eps = ms.Tensor([1e-5], ms.float32)

    def reference(x, w, eps):
        return x * ops.rsqrt(ops.mean(x * x, -1, keep_dims=True) + eps) * w

    x, w = tensor(3, 7, 200, scale=2), tensor(200)
    ours, theirs = (value_and_grads(Call(fused, reference, native.RMSNormKernel, pick=0), (x, w, eps), (0, 1),
                                    graph) for fused in (True, False))
    assert_same(ours, theirs)


@needs_compiler
@pytest.mark.parametrize("graph", [True, False])
def test_cross_entropy_kernel_equals_log_softmax_and_gather(graph):
    def reference(logits, labels):
        return -ops.gather_elements(ops.log_softmax(logits, -1), 1, labels.reshape(-1, 1)).reshape(-1)

    logits = tensor(37, 1000, scale=4)
    labels = ms.Tensor(RNG.integers(0, 1000, 37).astype(np.int32))
    ours, theirs = (value_and_grads(Call(fused, reference, native.CrossEntropyKernel, pick=0), (logits, labels),
                                    (0,), graph) for fused in (True, False))
    assert_same(ours, theirs)


@needs_compiler
def test_cross_entropy_kernel_gives_nan_for_an_id_outside_the_vocabulary():
    ms.set_context(mode=ms.PYNATIVE_MODE)
    labels = ms.Tensor(np.array([3, 1000, -2], np.int32))
    nll = native.CrossEntropyKernel()(tensor(3, 1000), labels)[0].asnumpy()
    assert np.isfinite(nll[0]) and np.isnan(nll[1:]).all()


@needs_compiler
@pytest.mark.parametrize("graph,grad_scale", [(True, None), (False, None), (True, 0.37)])
def test_adam_weight_decay_kernel_updates_in_place_as_mindspores(graph, grad_scale):
    """Three steps of mf's in-place kernel against MindSpore's ``AdamWeightDecay`` on copies of the same state
    (with ``grad_scale``: against MindSpore's on the scaled gradient)."""
    shape = (300, 70)
    state = [RNG.normal(size=shape).astype(np.float32) for _ in range(2)] + [RNG.random(shape).astype(np.float32)]
    grads = [tensor(*shape) for _ in range(3)]

    class Step(nn.Cell):
        def __init__(self, kernel):
            super().__init__()
            self.kernel = kernel
            self.p, self.m, self.v = (ms.Parameter(ms.Tensor(a.copy()), name=n) for a, n in zip(state, "pmv"))

        def construct(self, grad, lr, *scale):
            return self.kernel(self.p, self.m, self.v, lr, 0.9, 0.95, 1e-6, 0.1, grad, *scale)

    ms.set_context(mode=ms.GRAPH_MODE if graph else ms.PYNATIVE_MODE)
    lr = ms.Tensor(3e-3, ms.float32)
    try:
        ours, theirs = Step(native.AdamWeightDecayKernel()), Step(ops.AdamWeightDecay())
        for g in grads:
            ours(g, lr, ms.Tensor(grad_scale or 1.0, ms.float32))
            theirs(g if grad_scale is None else g * grad_scale, lr)
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)
    for name in "pmv":
        a, b = getattr(ours, name).asnumpy(), getattr(theirs, name).asnumpy()
        assert not np.array_equal(a, state["pmv".index(name)])  # updated in place
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@needs_compiler
def test_sum_of_squares_equals_numpys():
    ms.set_context(mode=ms.PYNATIVE_MODE)
    for shape in [(5,), (1000, 333)]:  # one block, and blocks over threads with a short last one
        x = tensor(*shape)
        total = native.sum_of_squares()(x).asnumpy()
        assert total.shape == (1,)
        np.testing.assert_allclose(total[0], np.square(x.asnumpy().astype(np.float64)).sum(), rtol=1e-6)


def without_kernels(family, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(native, "library", lambda: None)
        return build(family)


@needs_compiler
@pytest.mark.parametrize("family", ["llama", "mixtral", "gpt2", "bloom"])
def test_networks_train_the_same_with_and_without_the_kernels(family, monkeypatch):
    """Loss and every gradient of a tiny network with the kernels equal the same network on MindSpore's ops."""
    fused = build(family)
    plain = without_kernels(family, monkeypatch)
    weights = {p.name: p for p in fused.get_parameters()}
    for p in plain.get_parameters():
        p.set_data(weights[p.name].data.copy())
    kernels = [name for name, cell in fused.cells_and_names() if type(cell).__module__ == native.__name__]
    assert kernels and not [n for n, c in plain.cells_and_names() if type(c).__module__ == native.__name__]
    ids = ms.Tensor(np.random.default_rng(3).integers(3, 97, (2, 13)).astype(np.int32))
    ms.set_context(mode=ms.GRAPH_MODE)
    try:
        results = []
        for model in (fused, plain):
            model.set_train(True)
            loss, grads = ms.value_and_grad(model, None, model.trainable_params())(ids)
            results.append((loss.asnumpy(), [g.asnumpy() for g in grads]))
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)
    (loss_a, grads_a), (loss_b, grads_b) = results
    np.testing.assert_allclose(loss_a, loss_b, rtol=1e-5)
    for a, b in zip(grads_a, grads_b):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


@needs_compiler
def test_the_kernels_are_used_by_default_on_cpu():
    assert native.library() is not None
    model = build("llama")
    layer = model.model.layers[0]
    assert layer.feed_forward.product is not None and layer.attention_norm.kernel is not None
    assert layer.attention.fused_softmax is not None and model.loss.kernel is not None
    assert native.fused(native.SwiGLUProduct, ms.float16) is None  # float32 only


@pytest.fixture
def fresh_library(monkeypatch, tmp_path):
    """``native.library()`` recomputed under this test's environment (kernels built under tmp_path)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    native.library.cache_clear()
    yield tmp_path
    native.library.cache_clear()


def test_no_kernels_when_switched_off_or_without_a_compiler(fresh_library, monkeypatch):
    monkeypatch.setenv(native.ENV, "0")
    assert native.library() is None
    native.library.cache_clear()
    monkeypatch.delenv(native.ENV)
    monkeypatch.setenv("CXX", str(fresh_library / "no-such-compiler"))
    assert native.library() is None
    assert native.fused(native.SwiGLUProduct, ms.float32) is None


@needs_compiler
def test_a_failing_build_warns_once_and_falls_back(fresh_library, monkeypatch, caplog):
    broken = fresh_library / "cxx"
    broken.write_text("#!/bin/sh\n[ \"$1\" = --version ] && echo broken 1.0 && exit 0\necho 'error: no' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("CXX", str(broken))
    with caplog.at_level("WARNING", logger="mf_models"):
        assert native.library() is None
        assert native.library() is None
    assert [r.getMessage() for r in caplog.records if "fused CPU kernels unavailable" in r.getMessage()] == [
        f"mf_models: fused CPU kernels unavailable ({broken}: error: no); using MindSpore's ops"]
    assert not list((fresh_library / "mf" / "kernels").glob("*"))  # nothing half-written left


@needs_compiler
def test_a_build_killed_midway_leaves_a_folder_that_a_later_build_removes(fresh_library, monkeypatch):
    """kill -9 during the compiler's run leaves its temporary folder; the next build removes it once it is an hour
    old, and leaves a fresh one (another process's build in progress) alone."""
    import os
    import signal
    import subprocess
    import sys
    import time

    slow = fresh_library / "slow-cxx"
    slow.write_text("#!/bin/sh\n[ \"$1\" = --version ] && echo slow 1.0 && exit 0\nsleep 60\n")
    slow.chmod(0o755)
    kernels = fresh_library / "mf" / "kernels"
    env = {**os.environ, "XDG_CACHE_HOME": str(fresh_library), "CXX": str(slow)}
    build = subprocess.Popen([sys.executable, "-c", "from mf_models import native; native.library()"], env=env,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not list(kernels.glob(".build-*")) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        os.killpg(build.pid, signal.SIGKILL)
        build.wait()
    (left,) = kernels.glob(".build-*")
    live = kernels / ".build-live"
    live.mkdir()
    hour_ago = time.time() - native.STALE_BUILD_S - 1
    os.utime(left, (hour_ago, hour_ago))
    assert native.library() is not None
    assert list(kernels.glob(".build-*")) == [live]


@needs_compiler
def test_loading_the_library_keeps_denormals(tmp_path):
    """-ffast-math at link time would turn on flush-to-zero for the whole process (GCC's crtfastmath.o)."""
    import os
    import subprocess
    import sys

    code = ("import numpy as np; from mf_models import native; assert native.library() is not None; "
            "print(float(np.float32(1e-39) * np.float32(0.5)))")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}  # a fresh build, not one that the suite loaded
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert float(out.strip().splitlines()[-1]) == pytest.approx(5e-40, rel=1e-3)


@needs_compiler
def test_two_builds_at_once_give_one_library(fresh_library):
    compiler = shutil.which("g++")
    paths, errors = [], []

    def run():
        try:
            paths.append(native._build(compiler))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(paths)) == 1
    assert [p.name for p in (fresh_library / "mf" / "kernels").iterdir()] == [paths[0].name]
    assert native.library() == paths[0]
