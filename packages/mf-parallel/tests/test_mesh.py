"""The mesh's rank coordinates and groups, the capability table, and what a backend refuses to run."""

import pytest

from mf_parallel.capabilities import capabilities
from mf_parallel.errors import ParallelError
from mf_parallel.mesh import Mesh
from mf_parallel.runtime import check_runnable


def test_ranks_follow_mindspores_device_matrix():
    mesh = Mesh(dp=2, mp=2, pp=2)
    assert [mesh.coords(r) for r in range(8)] == [(s, d, m) for s in range(2) for d in range(2) for m in range(2)]
    assert mesh.mp_group(5) == (4, 5) and mesh.dp_group(5) == (5, 7)
    assert all(mesh.rank(*mesh.coords(r)) == r for r in range(8))


def test_expert_groups_split_the_data_parallel_axis():
    mesh = Mesh(dp=4, mp=2, ep=2)
    # rank = d * mp + m; d = a * ep + e
    assert mesh.ep_group(0) == (0, 2) and mesh.ep_group(4) == (4, 6) and mesh.ep_group(3) == (1, 3)
    assert mesh.expert_dp_group(0) == (0, 4) and mesh.expert_dp_group(2) == (2, 6)
    assert mesh.ep_mp_group(6) == (4, 5, 6, 7)
    assert [mesh.index("ep", r) for r in range(8)] == [0, 0, 1, 1, 0, 0, 1, 1]


@pytest.mark.parametrize("kwargs,key", [(dict(dp=3, ep=2), "expert_parallel"), (dict(mp=0), "model_parallel")])
def test_bad_mesh(kwargs, key):
    with pytest.raises(ParallelError) as e:
        Mesh(**kwargs)
    assert e.value.key == key


def test_cpu_capabilities_pick_all_reduce_equivalents_on_sub_groups():
    cpu, ascend = capabilities("CPU"), capabilities("Ascend")
    assert cpu.native("all_reduce", world=False)
    assert cpu.native("all_gather", world=True) and not cpu.native("all_gather", world=False)
    assert not cpu.native("reduce_scatter", world=True) and not cpu.native("all_to_all", world=True)
    assert not cpu.native("all_reduce_max", world=True) and not cpu.point_to_point
    assert all(ascend.native(c, world=False) for c in ("all_gather", "reduce_scatter", "all_to_all"))
    with pytest.raises(ParallelError):
        capabilities("TPU")


@pytest.mark.parametrize("config,key", [
    ({"pipeline_stage": 2, "micro_batch_num": 2}, "parallel_config.pipeline_stage"),
    ({"model_parallel": 2, "use_seq_parallel": True}, "parallel_config.use_seq_parallel"),
])
def test_cpu_refuses_what_it_cannot_run_naming_the_key(config, key):
    with pytest.raises(ParallelError) as e:
        check_runnable(config, Mesh.from_config(config), capabilities("CPU"))
    assert e.value.key == key and "CPU" in str(e.value)


def test_context_parallel_is_refused():
    with pytest.raises(ParallelError) as e:
        Mesh.from_config({"context_parallel": 2})
    assert e.value.key == "parallel_config.context_parallel"


def test_optimizer_shard_is_refused_with_the_reason():
    from mf_parallel.training import optimizer_shard_note

    cpu = optimizer_shard_note(capabilities("CPU"), 4)
    assert "ReduceScatter and AllGather" in cpu and "CPU backend lacks" in cpu and "stay whole" in cpu
    assert cpu.startswith("parallel.enable_parallel_optimizer")
    assert "does not shard optimizer states yet" in optimizer_shard_note(capabilities("Ascend"), 4)
    assert "nothing to shard" in optimizer_shard_note(capabilities("CPU"), 1)
