"""Several files published as one unit beside each other, with a commit marker ``.NAME.commit`` written first.

MindRecord's ``x.mindrecord`` and ``x.mindrecord.db`` (or its shards) must be published together, under fixed
names in the user's folder, so they cannot be one rename. The files are written in a stage folder
``.NAME.PID.RANDOM.tmp`` beside them; publishing then

1. writes the marker (atomically): each file's size and the SHA-256 of its first and last MiB, the stage's name
   and the files of the previous output to remove: this is the commit point;
2. renames each file out of the stage, removes the previous output's other files, then the empty stage.

A crash before 1 leaves the previous output (the stage is a dead writer's temporary, removed later); after 1,
whoever next writes or reads the output finds the stage the marker names and finishes 2 (:func:`recover`).
Readers (:func:`check_committed`) refuse files the marker does not describe: another run's ``.db`` beside this
run's data, or a file missing. Outputs without a marker (written by other tools) are read as they are.
"""

import hashlib
import json
import os
from pathlib import Path

from mf_config import fsops
from mf_config.errors import OutputError
from mf_config.outlock import output_lock

FORMAT = "mf-commit"
_SAMPLE = 1 << 20
_MAX_MARKER = 1 << 20


def marker_path(path):
    """The commit marker of the output ``path``."""
    path = Path(path)
    return path.with_name(f".{path.name}.commit")


def fingerprint(file):
    """``{"size", "head", "tail"}``: the size and the SHA-256 of the first and last MiB (all of a small file)."""
    with open(file, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = hashlib.sha256(f.read(_SAMPLE)).hexdigest()
        f.seek(max(0, size - _SAMPLE))
        tail = hashlib.sha256(f.read(_SAMPLE)).hexdigest()
    return {"size": size, "head": head, "tail": tail}


def _valid(data):
    members = data.get("members") if isinstance(data, dict) else None
    return (isinstance(data, dict) and data.get("format") == FORMAT and isinstance(members, dict)
            and all(isinstance(n, str) and Path(n).name == n and n not in ("", ".", "..") for n in members)
            and all(isinstance(v, dict) for v in members.values())
            and isinstance(data.get("remove", []), list)
            and all(isinstance(n, str) and Path(n).name == n for n in data.get("remove", []))
            and isinstance(data.get("staged"), (str, type(None))))


def read_marker(path):
    """The marker of output ``path`` as a dict, or None when there is none; OutputError when it is damaged."""
    marker = marker_path(path)
    try:
        with open(marker, "rb") as f:
            raw = f.read(_MAX_MARKER + 1)
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw.decode("utf-8")) if len(raw) <= _MAX_MARKER else None
    except (ValueError, RecursionError):
        data = None
    if not _valid(data):
        raise OutputError(f"damaged commit marker of {Path(path).name}: write the output again (or remove the "
                          "marker if another tool wrote these files)", file=marker)
    return data


def _write_marker(path, data, tmp):
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
            f.flush()
            fsops.fsync_fd(f.fileno(), tmp)
        fsops.replace(tmp, marker_path(path))
    except BaseException:
        fsops.remove(tmp)
        raise
    fsops.fsync_path(Path(path).parent)


def publish(path, stage, marker_tmp):
    """Publish the files of the folder ``stage`` beside ``path`` as one unit (the caller holds the lock)."""
    path, stage = Path(path), Path(stage)
    names = sorted(os.listdir(stage))
    for name in names:
        if (stage / name).is_dir() or (path.parent / name).is_dir():
            raise OutputError("is a folder; a multi-file output publishes files", file=path.parent / name)
    old = _marker_or_none(path) or {"members": {}}
    data = {"format": FORMAT, "version": 1, "members": {n: fingerprint(stage / n) for n in names},
            "staged": stage.name, "remove": sorted(set(old["members"]) - set(names))}
    _write_marker(path, data, marker_tmp)  # the commit point
    _roll_forward(path, stage, names, data["remove"])


def _roll_forward(path, stage, names, remove):
    for name in names:
        if (stage / name).exists():
            fsops.replace(stage / name, path.parent / name)
    for name in remove:
        if (path.parent / name).is_file():
            fsops.remove(path.parent / name)
    fsops.fsync_path(path.parent)
    fsops.remove(stage)
    fsops.fsync_path(path.parent)


def _marker_or_none(path):
    """The marker, or None when there is none or it is damaged (a writer replaces it)."""
    try:
        return read_marker(path)
    except OutputError:
        return None


def is_staged(path, stage):
    """True when the marker of ``path`` names ``stage``: its publication passed the commit point."""
    data = _marker_or_none(path)
    return data is not None and data.get("staged") == Path(stage).name


def recover(path):
    """Finish a publication of ``path`` that a crash interrupted after its commit point; True if there was one.
    The caller holds the output's lock."""
    path = Path(path)
    data = _marker_or_none(path)
    stage = path.parent / data["staged"] if data and data.get("staged") else None
    if stage is None or not stage.is_dir():
        return False
    _roll_forward(path, stage, list(data["members"]), data.get("remove", []))
    return True


def find_marker(file):
    """The output (its primary path) whose commit marker lists ``file``, or None."""
    file = Path(file)
    if marker_path(file).is_file():
        return file
    try:
        markers = [p for p in file.parent.iterdir() if p.name.startswith(".") and p.name.endswith(".commit")]
    except OSError:
        return None
    for marker in markers:
        primary = file.with_name(marker.name[1:-len(".commit")])
        data = read_marker(primary)
        if data and file.name in data["members"]:
            return primary
    return None


def settle(path):
    """Finish an interrupted publication of the output ``path`` (or of the output whose marker lists it), if any;
    returns its primary path, or None when no marker covers it. OutputError when it is being written now or this
    user cannot finish it."""
    primary = find_marker(path)
    if primary is None:
        return None
    data = read_marker(primary)
    if data.get("staged") and (primary.parent / data["staged"]).is_dir():
        try:
            with output_lock(primary):
                recover(primary)
        except PermissionError:
            raise OutputError("an interrupted write left it incomplete and this user cannot finish it: write it "
                              "again", file=primary) from None
    return primary


def check_committed(path):
    """The files of the committed output ``path`` (or whose marker lists ``path``), checked against the marker;
    None when no marker covers it (an output of another tool). OutputError for files another run left beside
    them, a missing file, or an output being written now."""
    primary = settle(path)
    if primary is None:
        return None
    files = []
    for name, expected in read_marker(primary)["members"].items():
        file = primary.parent / name
        if not file.is_file():
            raise OutputError(f"missing: the output {primary.name} is incomplete; write it again", file=file)
        if fingerprint(file) != expected:
            raise OutputError(f"does not belong to the output {primary.name} committed here (another run or tool "
                              f"changed it): write the output again, or remove {marker_path(primary).name} if "
                              "another tool wrote these files", file=file)
        files.append(file)
    return files
