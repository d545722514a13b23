"""HCCL rank tables (``RANK_TABLE_FILE``) as MindFormers' ``hccl_tools.py`` writes them and ``merge_hccl.py``
merges them, and the legacy ``run_distribute.sh`` environment per device.

Format (every value a string)::

    {"version": "1.0", "server_count": "1",
     "server_list": [{"server_id": "10.0.0.1", "host_nic_ip": "reserve",
                      "device": [{"device_id": "0", "device_ip": "192.98.92.100", "rank_id": "0"}, ...]}],
     "status": "completed"}
"""

import json
import re
import socket
from pathlib import Path

from mf_parallel.errors import ParallelError

MAX_TABLE_BYTES = 16 << 20
_RANGE = re.compile(r"^\[(\d+),\s*(\d+)[\])]$")


def device_range(text, per_node=None, key="device_num"):
    """``"[a,b)"`` -> (a, b), checked as hccl_tools.py does (within [0, per_node]; across the two 4-device groups
    only [0,8) or [0,16))."""
    m = _RANGE.match(str(text).strip())
    if not m:
        raise ParallelError(f"expected a range like \"[0,8)\", got {text!r}", key=key)
    first, last = int(m.group(1)), int(m.group(2))
    if first >= last:
        raise ParallelError(f"the range {text} is empty", key=key)
    if per_node is not None:
        if last > per_node:
            raise ParallelError(f"the range {text} exceeds the {per_node} devices of a node", key=key)
        if first < 4 < last and not (first == 0 and last in (8, 16)):
            raise ParallelError(f"the range {text} crosses the [0,4)/[4,8) device groups; only [0,8) or [0,16) may",
                                key=key)
    return first, last


def read_hccn_conf(path="/etc/hccn.conf"):
    """{device_id: device_ip} from ``address_N=IP`` lines."""
    ips = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("address_") and "=" in line:
            name, ip = line.split("=", 1)
            ips[name.split("_", 1)[1]] = ip.strip()
    return ips


def parse_device_ips(text):
    """``"0:192.0.0.1,1:192.0.0.2"`` or ``"192.0.0.1,192.0.0.2"`` (device 0, 1, ...) -> {device_id: ip}."""
    out = {}
    for i, part in enumerate(p.strip() for p in str(text).split(",") if p.strip()):
        device, sep, ip = part.partition(":")
        out[device if sep else str(i)] = ip if sep else part
    return out


def make_table(first, last, server_ip=None, device_ips=None, visible_devices=None):
    """The rank table of devices ``[first, last)`` of one server (hccl_tools.py's)."""
    visible = [d.strip() for d in (visible_devices or ",".join(map(str, range(max(last, 8))))).split(",")]
    if len(visible) < last:
        raise ParallelError(f"{len(visible)} visible devices, the range needs {last}", key="visible_devices")
    server = server_ip or socket.gethostbyname(socket.gethostname())
    devices = []
    for rank, instance in enumerate(range(first, last)):
        device = visible[instance]
        if device not in (device_ips or {}):
            raise ParallelError(f"no IP for device {device} (give --device_ips or /etc/hccn.conf)", key="device_ips")
        devices.append({"device_id": device, "device_ip": device_ips[device], "rank_id": str(rank)})
    table = {"version": "1.0", "server_count": "1",
             "server_list": [{"server_id": server, "device": devices, "host_nic_ip": "reserve"}],
             "status": "completed"}
    validate(table, "ranktable")
    return table


def table_name(table):
    """hccl_tools.py's file name: ``hccl_{n}p_{device ids}_{server}.json``."""
    server = table["server_list"][0]
    ids = "".join(d["device_id"] for d in server["device"])
    return f"hccl_{len(server['device'])}p_{ids}_{server['server_id']}.json"


def load_table(path):
    """A rank table read (bounded) and validated."""
    path = Path(path)
    if not path.is_file():
        raise ParallelError("no such rank table", file=path)
    if path.stat().st_size > MAX_TABLE_BYTES:
        raise ParallelError(f"larger than {MAX_TABLE_BYTES >> 20} MB: not a rank table", file=path)
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ParallelError(f"invalid JSON ({e})", file=path) from None
    validate(table, path)
    return table


def _strings(entry, keys, where, file):
    for key in keys:
        if not isinstance(entry.get(key), str):
            raise ParallelError(f"{key} must be a string (HCCL reads strings), got {entry.get(key)!r}", file=file,
                                key=where + key)


def validate(table, file):
    """Structure, string values, counts, and no duplicate server, device IP or rank id."""
    if not isinstance(table, dict) or not isinstance(table.get("server_list"), list):
        raise ParallelError("expected an object with a server_list", file=file, key="server_list")
    _strings(table, ("version", "server_count"), "", file)
    if not table["server_count"].isdigit() or int(table["server_count"]) != len(table["server_list"]):
        raise ParallelError(f"server_count {table['server_count']!r} but {len(table['server_list'])} servers listed",
                            file=file, key="server_count")
    servers, ips, ranks = set(), set(), []
    for i, server in enumerate(table["server_list"]):
        where = f"server_list.{i}."
        if not isinstance(server, dict) or not isinstance(server.get("device"), list) or not server["device"]:
            raise ParallelError("expected an object with a non-empty device list", file=file, key=where + "device")
        _strings(server, ("server_id",), where, file)
        if server["server_id"] in servers:
            raise ParallelError(f"server {server['server_id']} is listed twice", file=file, key=where + "server_id")
        servers.add(server["server_id"])
        local = set()
        for j, device in enumerate(server["device"]):
            at = f"{where}device.{j}."
            if not isinstance(device, dict):
                raise ParallelError("expected an object", file=file, key=at[:-1])
            _strings(device, ("device_id", "device_ip", "rank_id"), at, file)
            for value, seen, what in ((device["device_id"], local, "device_id"),
                                      (device["device_ip"], ips, "device_ip")):
                if value in seen:
                    raise ParallelError(f"{what} {value} appears twice", file=file, key=at + what)
                seen.add(value)
            ranks.append(device["rank_id"])
    if sorted(ranks, key=lambda r: int(r) if r.isdigit() else -1) != [str(i) for i in range(len(ranks))]:
        raise ParallelError(f"rank_id values must be 0..{len(ranks) - 1} once each, got {ranks}", file=file,
                            key="rank_id")


def merge_tables(tables):
    """merge_hccl.py: servers in file order, server_count summed, rank_id renumbered; validated."""
    out = {"version": "1.0", "server_count": "0", "server_list": []}
    for table in tables:
        out["server_list"].extend(json.loads(json.dumps(table["server_list"])))
    rank = 0
    for server in out["server_list"]:
        for device in server["device"]:
            device["rank_id"] = str(rank)
            rank += 1
    out["server_count"] = str(len(out["server_list"]))
    out["status"] = "completed"
    validate(out, "merged rank table")
    return out


def merged_name(table):
    devices = sum(len(s["device"]) for s in table["server_list"])
    return f"hccl_{table['server_count']}s_{devices}p.json"


def legacy_env(rank_table_file, device_range_text, rank_size=None):
    """The environment of each device that ``run_distribute.sh RANK_TABLE_FILE CONFIG [a,b) RUN_STATUS [RANK_SIZE]``
    exports: without RANK_SIZE (one machine) RANK_ID = device - a, DEVICE_ID = device, RANK_SIZE = b - a; with
    it (several machines) RANK_ID = device, DEVICE_ID = device - a."""
    table = load_table(rank_table_file)
    first, last = device_range(device_range_text, key="DEVICE_RANGE")
    total = sum(len(s["device"]) for s in table["server_list"])
    size = last - first if rank_size is None else int(rank_size)
    if size != total:
        raise ParallelError(f"RANK_SIZE {size} but the rank table lists {total} devices", file=rank_table_file,
                            key="RANK_SIZE")
    envs = []
    for device in range(first, last):
        rank, device_id = (device - first, device) if rank_size is None else (device, device - first)
        if rank >= total:
            raise ParallelError(f"rank {rank} is beyond the table's {total} devices", file=rank_table_file,
                                key="DEVICE_RANGE")
        envs.append({"RANK_TABLE_FILE": str(Path(rank_table_file).resolve()), "RANK_ID": str(rank),
                     "DEVICE_ID": str(device_id), "RANK_SIZE": str(size)})
    return envs
