"""Sessions: `lint` (ruff + import-linter layers) and `tests(package)` for each of the eight packages.

`nox` runs them all. Environments are made by uv, whose cache hard-links mindspore and torch into
each session instead of installing them again. The machine's pip `find-links` (where a local torch
CPU wheel may lie) is passed on to uv.
"""

import os
import subprocess
import sys
from pathlib import Path

import nox
import tomllib

ROOT = Path(__file__).parent
PACKAGES = sorted(p.name for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").is_file())

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["lint", "tests"]
nox.options.error_on_missing_interpreters = True


def _pip_find_links():
    links = os.environ.get("UV_FIND_LINKS") or os.environ.get("PIP_FIND_LINKS")
    if links:
        return links
    out = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.find-links"],
                         capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else ""


def _requirements(package):
    meta = tomllib.loads((ROOT / "packages" / package / "pyproject.toml").read_text())["project"]
    return meta.get("dependencies", []) + meta.get("optional-dependencies", {}).get("test", [])


def _local_deps(package, seen=None):
    """The in-repo packages ``package`` needs (runtime and test), recursively, lowest first."""
    seen = [] if seen is None else seen
    for req in _requirements(package):
        name = req.split(";")[0].split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip()
        if name in PACKAGES and name not in seen and name != package:
            _local_deps(name, seen)
            seen.append(name)
    return seen


def _env(session):
    links = _pip_find_links()
    if links:
        session.env["UV_FIND_LINKS"] = links
    session.env["UV_LINK_MODE"] = "hardlink"


@nox.session
@nox.parametrize("package", PACKAGES)
def tests(session, package):
    """Install one package editable with its in-repo dependencies and test extras; run its tests."""
    _env(session)
    args = []
    for dep in _local_deps(package):
        args += ["-e", f"packages/{dep}"]
    session.install(*args, "-e", f"packages/{package}[test]")
    session.chdir(f"packages/{package}")
    session.run("pytest", "tests", "-q", "--durations=5", *session.posargs)


@nox.session
def lint(session):
    """ruff on all code; import-linter contracts (.importlinter) for DESIGN.md's layers."""
    _env(session)
    session.install("ruff", "import-linter")
    session.install("--no-deps", *[arg for p in PACKAGES for arg in ("-e", f"packages/{p}")])
    session.run("ruff", "check", "packages", "noxfile.py", *(["benchmarks"] if (ROOT / "benchmarks").is_dir() else []))
    session.run("lint-imports")


@nox.session
def demo(session):
    """The main job: what mf does today, end to end on the shared assets (nothing to download)."""
    _env(session)
    session.install("-e", "packages/mf-config")
    shared = ROOT.parent / "shared" / "assets" / "mindformers-yaml"
    for path in sorted(shared.glob("*.yaml")):
        session.run("mf-config", "validate", "--strict", str(path))
    session.run("mf-config", "show", str(shared / "run_llama3_8b_8k_800T_A2_64G.yaml"),
                "--set", "model.model_config.num_layers=2", "--set", "context.device_target=CPU")
