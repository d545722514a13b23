"""What msrun starts on each rank under ``mf-parallel launch``: runs the user's command and leaves its exit code in
the launcher's status folder (``MF_PARALLEL_STATUS_DIR``), so the launcher can name a failed rank and its code at
once (msrun itself reports a failure ~35 s later, without the code).

``python -m mf_parallel.worker [COMMAND ARGS...]`` (default: the JSON list in ``MF_PARALLEL_COMMAND``); a command
that is a ``.py`` file runs with this interpreter.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path


def resolve(command):
    """The argv to run: ``x.py ...`` with this interpreter, a console script found on PATH, else as given."""
    first = command[0]
    if first.endswith(".py"):
        return [sys.executable, *command]
    if first in ("python", "python3"):
        return [sys.executable, *command[1:]]
    return [shutil.which(first) or first, *command[1:]]


def _write(path, data):
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def main(argv=None):
    command = list(sys.argv[1:] if argv is None else argv)
    if command and command[0] == "--":
        command = command[1:]
    if not command and os.environ.get("MF_PARALLEL_COMMAND"):
        command = json.loads(os.environ["MF_PARALLEL_COMMAND"])
    if not command:
        print("mf_parallel.worker: no command", file=sys.stderr)
        return 2
    if os.environ.get("MS_ROLE") == "MS_SCHED":  # msrun's scheduler runs the command too; it is no rank
        argv = resolve(command)
        os.execv(argv[0], argv)
    rank = os.environ.get("RANK_ID", "?")
    status = os.environ.get("MF_PARALLEL_STATUS_DIR")
    folder = Path(status) if status else None
    if folder:
        folder.mkdir(parents=True, exist_ok=True)
        _write(folder / f"rank_{rank}.pid", {"rank": rank, "pid": os.getpid(), "pgid": os.getpgid(0)})
    try:
        child = subprocess.Popen(resolve(command))
    except OSError as e:
        code = 127
        print(f"mf_parallel.worker: cannot run {command[0]}: {e.strerror}", file=sys.stderr, flush=True)
    else:
        signal.signal(signal.SIGTERM, lambda *_: child.terminate())
        code = child.wait()
        code = code if code >= 0 else 128 - code  # killed by signal N: 128 + N, as a shell reports it
    if folder:
        _write(folder / f"rank_{rank}.exit", {"rank": rank, "code": code})
    return code


if __name__ == "__main__":
    sys.exit(main())
