"""Every README's examples run as a user would type them (`nox -s readmes`).

- A ```python block runs as a script; a ```console block's `$ ` lines run in bash (a line ending in `\\`
  continues on the next; other lines are the output shown, not checked). A command exits 0 unless it ends in
  `# exit N`. Blocks run in order in the README's own empty folder, so a block uses what an earlier one made.
- `<!-- readme-files: NAME=ASSET ... -->` in a README puts files of the shared assets there under the names its
  examples use: the reader's own files (their tokenizer, their text). Nothing else is prepared.
- Other fences (text, json, yaml) are synopses, outputs and formats, not run; every fence names its language.
- `$ uv pip install ./packages/mf-X` is not run here: `nox -s install` and `standalone-mf-X` run exactly it.
  A `nox` command is checked against the sessions `nox -l` lists. A block right after a comment `<!-- ...: run by
  FILE -->` is run by that test file (which must read the README), not here.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mf_config.testing import find_assets

ROOT = Path(__file__).resolve().parents[1]
READMES = [ROOT / "README.md", *sorted(ROOT.glob("packages/*/README.md"))]
RUN = ("python", "console")
KNOWN = (*RUN, "text", "json", "yaml")
FENCE = re.compile(r"^```(\S*)\s*$")


def blocks(readme):
    """``(language, first line number, text, the test file that runs it or None)`` of every fenced block."""
    out, lang, start, lines, previous, runner = [], None, 0, [], "", None
    for number, line in enumerate(readme.read_text().splitlines(), 1):
        match = FENCE.match(line)
        if match and lang is None:
            lang, start, lines = match.group(1), number + 1, []
            found = re.search(r"<!--.*run by (\S+) -->", previous)
            runner = found.group(1) if found else None
        elif line.startswith("```") and lang is not None:
            out.append((lang, start, "\n".join(lines), runner))
            lang = None
        elif lang is not None:
            lines.append(line)
        previous = line
    return out


def commands(text):
    """``(command, expected exit code)`` of a console block."""
    out, current = [], None
    for line in text.splitlines():
        if current is not None:
            current += "\n" + line
        elif line.startswith("$ "):
            current = line[2:]
        if current is not None and not current.endswith("\\"):
            code = re.search(r"\s+# exit (\d+)$", current)
            out.append((current[:code.start()] if code else current, int(code.group(1)) if code else 0))
            current = None
    return out


def seed(readme, folder):
    text = readme.read_text()
    assets = find_assets(ROOT)
    for spec in re.findall(r"<!-- readme-files: (.*?) -->", text, flags=re.S):
        for pair in spec.split():
            name, asset = pair.split("=", 1)
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(assets / asset, folder / name)


def nox_sessions():
    proc = subprocess.run([sys.executable, "-m", "nox", "-l", "--json"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    import json

    listed = json.loads(proc.stdout)
    return {s["session"] for s in listed} | {t for s in listed for t in s.get("tags", [])}


def check_unrun(command):
    """A command this test does not run: a package's install line, or nox sessions that must exist."""
    words = shlex.split(command.split("&&")[-1])
    if words[:3] == ["uv", "pip", "install"]:
        assert len(words) == 4 and re.fullmatch(r"\./packages/mf-[a-z]+", words[3]), command
        return True
    if "nox" in words[:3]:
        names = [words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-s", "-t")]
        assert set(names) <= nox_sessions(), f"{command}: no such nox session"
        return True
    return False


@pytest.mark.parametrize("readme", READMES, ids=[str(r.relative_to(ROOT).parent) for r in READMES])
def test_every_fence_names_a_known_language(readme):
    for lang, line, _, _ in blocks(readme):
        assert lang in KNOWN, f"{readme}:{line - 1}: fence ```{lang}; expected one of {', '.join(KNOWN)}"


@pytest.mark.parametrize("readme", READMES, ids=[str(r.relative_to(ROOT).parent) for r in READMES])
def test_examples_run(readme, tmp_path):
    seed(readme, tmp_path)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               PYTHONUNBUFFERED="1", NO_COLOR="1")
    ran = 0
    for lang, line, text, runner in blocks(readme):
        if runner is not None:
            assert readme.name in (ROOT / runner).read_text(), f"{readme}:{line}: {runner} does not read the README"
            ran += 1
        elif lang == "python":
            script = tmp_path / f"_block_{line}.py"
            script.write_text(text + "\n")
            proc = subprocess.run([sys.executable, script.name], cwd=tmp_path, env=env, capture_output=True,
                                  text=True)
            assert proc.returncode == 0, f"{readme}:{line}: python block failed:\n{proc.stdout}\n{proc.stderr}"
            ran += 1
        elif lang == "console":
            for command, expected in commands(text):
                ran += 1
                if check_unrun(command):
                    continue
                proc = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=tmp_path, env=env,
                                      capture_output=True, text=True)
                assert proc.returncode == expected, (f"{readme}:{line}: `{command}` exited {proc.returncode}, "
                                                     f"expected {expected}:\n{proc.stdout}\n{proc.stderr}")
    assert ran, f"{readme}: no example"
