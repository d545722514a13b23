"""mf's graphs run compiled in MindSpore's default PyNative mode (op by op only when PyNative is asked for through
mf's context), and the compile cache across processes loads a graph only where its journal names the same graph:
against MindSpore's own cache, which loads the Nth graph a process compiles by position alone."""

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest

from mf_models import AutoModel, runtime
from mf_models.compile_cache import CHATTER, graph_key

from .helpers import build

PROMPT = np.array([[5, 17, 33, 2, 70, 4, 9, 11]], np.int32)
LOADED = "Use the compilation cache"
CHILD = """
import sys
import numpy as np
from mf_models import AutoModel

model = AutoModel.from_pretrained(sys.argv[1])
model.set_train(False)
prompt = np.array([[5, 17, 33, 2, 70, 4, 9, 11]], np.int32)
for op in sys.argv[2].split(","):
    out = model.decode([[7]]) if op == "D" else model.prefill(prompt, max_length=int(op[1:]))
    print(op, repr(float(out.asnumpy().astype(np.float64).sum())))
"""


@pytest.fixture
def pynative():
    mode = ms.get_context("mode")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    yield
    runtime.set_context({"mode": 0})
    ms.set_context(mode=mode)


def graph_cells(model):
    return list(model.decode_sessions.graphs().values())


def test_prefill_and_decode_compile_in_pynative_mode(pynative):
    model = build("llama", initializer_range=0.2)
    model.set_train(False)
    prefill = model.prefill(PROMPT, max_length=16).asnumpy()
    step = model.decode([[7]]).asnumpy()
    assert ms.get_context("mode") == ms.PYNATIVE_MODE  # the user's mode is left alone
    assert [len(cell.compile_cache) for cell in graph_cells(model)] == [1, 1]
    full = model(ms.Tensor(np.concatenate([PROMPT, [[7]]], 1))).asnumpy()  # op by op: the model is a plain Cell
    assert np.abs(np.concatenate([prefill, step], 1) - full).max() < 1e-4


def test_pynative_through_mf_context_runs_op_by_op(pynative):
    runtime.set_context({"mode": 1})
    model = build("llama", initializer_range=0.2)
    model.set_train(False)
    eager = np.concatenate([model.prefill(PROMPT, max_length=16).asnumpy(), model.decode([[7]]).asnumpy()], 1)
    assert [len(cell.compile_cache) for cell in graph_cells(model)] == [0, 0]
    runtime.set_context({"mode": 0})
    model.decode_sessions.clear()
    compiled = np.concatenate([model.prefill(PROMPT, max_length=16).asnumpy(), model.decode([[7]]).asnumpy()], 1)
    assert np.abs(eager - compiled).max() < 1e-4


def test_graph_key_follows_what_makes_the_graph():
    from mf_models.decoding import _Prefill

    def key(model, length=16, width=8):
        session = model.decode_session(1, length)
        return graph_key(session.graph("prefill"), (ms.Tensor(np.zeros((1, width), np.int32)),
                                                    ms.Tensor(np.zeros(1, np.int32))))

    a, same = build("llama", initializer_range=0.2), build("llama", initializer_range=0.2)
    weight = same.get_parameters().__next__()
    weight.set_data(ms.Tensor(np.ones(weight.shape, np.float32)))
    assert isinstance(a.decode_session(1, 16).graph("prefill"), _Prefill)
    assert key(a) == key(same)  # weights are inputs of the graph, not part of it
    assert key(a) != key(a, length=32) and key(a) != key(a, width=16)
    assert key(a) != key(build("llama", rms_norm_eps=1e-3))  # a constant baked into the graph
    assert key(a) != key(build("llama", num_layers=3))


def run_child(script, folder, ops, cache, env_extra=None):
    env = {**os.environ, "MF_COMPILE_CACHE": str(cache), "GLOG_v": "2", **(env_extra or {})}
    out = subprocess.run([sys.executable, str(script), str(folder), ops], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout, out.stderr.count(LOADED)


@pytest.mark.slow
def test_compile_cache_loads_only_the_same_graph_at_the_same_position(tmp_path):
    folder, cache = tmp_path / "model", tmp_path / "cache"
    build("llama", initializer_range=0.2).save_pretrained(folder)
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    model = AutoModel.from_pretrained(folder)
    model.set_train(False)
    expected = {}
    for op in ("P16", "D", "P32"):
        out = model.decode([[7]]) if op == "D" else model.prefill(PROMPT, max_length=int(op[1:]))
        expected[op] = float(out.asnumpy().astype(np.float64).sum())

    def check(ops, loads, **kw):
        stdout, loaded = run_child(script, folder, ops, cache, **kw)
        got = {line.split()[0]: float(line.split()[1]) for line in stdout.splitlines()}
        assert got == pytest.approx({op: expected[op] for op in ops.split(",")}, rel=1e-5, abs=1e-3)
        assert loaded == loads, ops

    check("P16,D", 0)
    check("P16,D", 2)  # warm: both graphs loaded
    check("P16,P32", 1)  # position 1 is another graph: MindSpore alone would load D's graph for P32
    (sub,) = [p for p in cache.iterdir() if p.is_dir()]
    assert len(__import__("json").loads((sub / "journal.json").read_text())) == 2
    (sub / "journal.json").unlink()  # a journal lost (a killed writer): its positions' files are not trusted
    check("P16,D", 0)
    check("P16,D", 2)
    with open(sub / "lock", "a") as lock:  # another process holds the folder: this one compiles
        fcntl.flock(lock, fcntl.LOCK_EX)
        check("P16,D", 0)
    check("P16,D", 0, env_extra={"MF_COMPILE_CACHE": "0"})
    assert [p for p in cache.iterdir() if p.is_dir()] == [sub]


@pytest.mark.slow
def test_no_compile_cache_without_an_entry_script(tmp_path):
    """MindSpore's cache reads the entry script's file (it fails under python -c); mf leaves it off there."""
    folder, cache = tmp_path / "model", tmp_path / "cache"
    build("llama").save_pretrained(folder)
    code = CHILD.replace("sys.argv[1]", repr(str(folder))).replace("sys.argv[2]", "'P16,D'")
    env = {**os.environ, "MF_COMPILE_CACHE": str(cache)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert len(out.stdout.splitlines()) == 2
    assert not Path(cache).exists()


@pytest.mark.slow
def test_compiling_through_the_cache_keeps_the_callers_streams_and_hides_its_chatter(tmp_path):
    """MindSpore's cache swaps sys.stdout/sys.stderr for bare fd printers when it writes a graph; a caller's capture
    (click's CliRunner, a notebook) must keep receiving what is printed after the compile. Its WARNING lines for
    each graph written or loaded are not shown unless GLOG_v asks for MindSpore's logs."""
    folder = tmp_path / "model"
    build("llama").save_pretrained(folder)
    script = tmp_path / "streams.py"
    script.write_text(f"""
import io, sys
import numpy as np
from mf_models import AutoModel

mine = io.StringIO()
sys.stdout, sys.stderr = mine, mine
model = AutoModel.from_pretrained({str(folder)!r})
model.set_train(False)
model.prefill(np.array([[5, 17, 33, 2]], np.int32), max_length=16)
kept = sys.stdout is mine and sys.stderr is mine
sys.__stdout__.write(f"kept {{kept}}\\n")
""")
    env = {k: v for k, v in os.environ.items() if k != "GLOG_v"}  # MindSpore's default level: warnings shown
    env["MF_COMPILE_CACHE"] = str(tmp_path / "cache")
    for run in ("cold", "warm"):
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env)
        assert out.returncode == 0, out.stderr[-3000:]
        assert any((tmp_path / "cache").rglob("*.mindir"))  # the graph went through MindSpore's cache
        assert out.stdout.strip() == "kept True", run
        assert not any(m in out.stderr for m in CHATTER), (run, out.stderr)  # the cache's warnings are not shown


def test_context_runtime_num_threads_is_honoured():
    """A YAML's ``context.runtime_num_threads`` (MindFormers' predict YAMLs set 1) reaches MindSpore, and a bad
    value names the key; the decode step's head runs on the host in a process on one core only. In a fresh
    interpreter: the thread pool is set before MindSpore's runtime starts."""
    import subprocess
    import sys

    code = ("import os\nimport mindspore as ms\nfrom mf_config import preset\n"
            "from mf_models import AutoModel, runtime\n"
            "runtime.set_context({'mode': 0, 'runtime_num_threads': 1})\n"
            "assert ms.get_context('runtime_num_threads') == 1\n"
            "model = AutoModel.from_config(preset('llama', 'tiny'))\n"
            "assert model.host_head() is (model.lm_head.weight if runtime.usable_cores() == 1 else None)\n"
            "os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n"
            "assert runtime.usable_cores() == 1 and model.host_head() is model.lm_head.weight\n"
            "try:\n    runtime.set_context({'runtime_num_threads': 0})\n"
            "except Exception as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "context.runtime_num_threads" in out.stdout and "positive integer" in out.stdout
