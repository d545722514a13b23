"""`mf-parallel ranktable`, `merge-ranktable` and `rank-env` against the formats of MindFormers' hccl_tools.py,
merge_hccl.py and run_distribute.sh."""

import json

import pytest
from click.testing import CliRunner

from mf_parallel.cli import main

HCCN = "".join(f"address_{i}=192.98.92.{100 + i}\nnetmask_{i}=255.255.255.0\n" for i in range(8))


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def tables(tmp_path):
    conf = tmp_path / "hccn.conf"
    conf.write_text(HCCN)
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert run("ranktable", "--device_num", "[0,8)", "--server_ip", "10.0.0.1", "--hccn_conf", conf,
               "--output", a).exit_code == 0
    ips = ",".join(f"{i}:192.98.93.{100 + i}" for i in range(8))
    assert run("ranktable", "--device_num", "[0,8)", "--server_ip", "10.0.0.2", "--device_ips", ips,
               "--output", b).exit_code == 0
    return a, b


def test_one_server_table_is_hccl_tools_format(tables):
    table = json.loads(tables[0].read_text())
    assert table["version"] == "1.0" and table["server_count"] == "1" and table["status"] == "completed"
    server = table["server_list"][0]
    assert server["server_id"] == "10.0.0.1" and server["host_nic_ip"] == "reserve"
    assert server["device"][3] == {"device_id": "3", "device_ip": "192.98.92.103", "rank_id": "3"}


def test_default_name_is_hccl_tools(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("ranktable", "--device_num", "[4,8)", "--server_ip", "10.0.0.9", "--device_ips",
                 "192.0.0.1,192.0.0.2,192.0.0.3,192.0.0.4,192.0.0.5,192.0.0.6,192.0.0.7,192.0.0.8")
    assert result.exit_code == 0, result.output
    table = json.loads((tmp_path / "hccl_4p_4567_10.0.0.9.json").read_text())
    assert [d["rank_id"] for d in table["server_list"][0]["device"]] == ["0", "1", "2", "3"]


def test_merge_renumbers_ranks_in_file_order(tables, tmp_path):
    out = tmp_path / "merged.json"
    result = run("merge-ranktable", tables[1], tables[0], "--output", out)
    assert result.exit_code == 0, result.output
    merged = json.loads(out.read_text())
    assert merged["server_count"] == "2" and merged["status"] == "completed"
    assert [s["server_id"] for s in merged["server_list"]] == ["10.0.0.2", "10.0.0.1"]
    ranks = [d["rank_id"] for s in merged["server_list"] for d in s["device"]]
    assert ranks == [str(i) for i in range(16)]


@pytest.mark.parametrize("args,needle", [
    (("--device_num", "[3,6)", "--device_ips", "1,2,3,4,5,6,7,8"), "device groups"),
    (("--device_num", "0-8", "--device_ips", "1,2"), "device_num"),
    (("--device_num", "[0,4)", "--device_ips", "1.1.1.1,1.1.1.1,1.1.1.2,1.1.1.3"), "appears twice"),
    (("--device_num", "[0,4)", "--device_ips", "1.1.1.1"), "device_ips"),
])
def test_bad_ranktable_input_is_exit_2(args, needle, tmp_path):
    result = run("ranktable", "--server_ip", "10.0.0.1", "--output", tmp_path / "x.json", *args)
    assert result.exit_code == 2 and needle in result.output, result.output


def test_merging_a_server_twice_or_a_broken_table_is_refused(tables, tmp_path):
    twice = run("merge-ranktable", tables[0], tables[0], "--output", tmp_path / "m.json")
    assert twice.exit_code == 2 and "listed twice" in twice.output
    broken = tmp_path / "broken.json"
    data = json.loads(tables[0].read_text())
    data["server_count"] = 1
    broken.write_text(json.dumps(data))
    result = run("merge-ranktable", broken, "--output", tmp_path / "m.json")
    assert result.exit_code == 2 and "server_count" in result.output and "must be a string" in result.output
    assert not (tmp_path / "m.json").exists()


def test_rank_env_is_run_distribute_sh(tables, tmp_path):
    merged = tmp_path / "merged.json"
    run("merge-ranktable", *tables, "--output", merged)
    one = run("rank-env", tables[0], "[0,8)")
    lines = one.output.strip().splitlines()
    assert lines[2].endswith("RANK_ID=2 DEVICE_ID=2 RANK_SIZE=8") and lines[2].startswith("RANK_TABLE_FILE=/")
    second_node = run("rank-env", merged, "[8,16)", 16)
    assert second_node.exit_code == 0, second_node.output
    assert second_node.output.strip().splitlines()[0].endswith("RANK_ID=8 DEVICE_ID=0 RANK_SIZE=16")
    wrong = run("rank-env", merged, "[0,8)")
    assert wrong.exit_code == 2 and "RANK_SIZE" in wrong.output
