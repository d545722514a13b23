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
    """The main job: mf on the shared assets, nothing to download.

    Validates every MindFormers YAML, counts Llama 3 8B's parameters from its YAML, tokenizes with
    the Mixtral tokenizer, preprocesses the alpaca file into the indexed format and inspects it.
    """
    _env(session)
    session.install("-e", "packages/mf-config", "-e", "packages/mf-tokenizers", "-e", "packages/mf-models",
                    "-e", "packages/mf-data")
    assets = ROOT.parent / "shared" / "assets"
    yamls = assets / "mindformers-yaml"
    for path in sorted(yamls.glob("*.yaml")):
        session.run("mf-config", "validate", "--strict", str(path))
    session.run("mf-models", "params", str(yamls / "run_llama3_8b_8k_800T_A2_64G.yaml"))
    tokenizer = str(assets / "tokenizers" / "mistral-7b-v0.1.sp.model")
    session.run("mf-tokenizers", "info", tokenizer)
    out = Path(session.create_tmp()) / "alpaca_indexed"
    session.run("mf-data", "preprocess", "--dataset_type", "alpaca", "--input_glob",
                str(assets / "text" / "alpaca_pydocs.json"), "--tokenizer", tokenizer, "--seq_length", "512",
                "--output_file", str(out), "--format", "indexed", "--no_progress")
    session.run("mf-data", "inspect", str(out), "--tokenizer", tokenizer)
