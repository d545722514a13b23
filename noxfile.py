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
DEMO_YAML = ROOT / "packages" / "mf-train" / "src" / "mf_train" / "configs" / "pretrain_llama_tiny.yaml"
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
    """The main job: train a tiny Llama on the shared text, nothing to download, a few minutes on 2 CPU cores.

    Validates the shared MindFormers YAMLs, preprocesses WikiText-layout text with the Mistral tokenizer
    (mf-data), pretrains a 2-layer Llama from mf-train's example YAML with evaluation on the validation text
    (mf-train run: progress bar, checkpoints, metrics.jsonl, TensorBoard, loss curve), then generates from the
    final checkpoint (mf-generate run). ``nox -s demo -- --set runner_config.sink_size=N`` changes the step count.
    """
    _env(session)
    session.install(*[arg for p in ("mf-config", "mf-tokenizers", "mf-models", "mf-data", "mf-ckpt", "mf-train",
                                    "mf-generate") for arg in ("-e", f"packages/{p}")])
    assets = ROOT.parent / "shared" / "assets"
    for path in sorted((assets / "mindformers-yaml").glob("*.yaml")):
        session.run("mf-config", "validate", "--strict", str(path), silent=True)
    session.log("all shared MindFormers YAMLs validate")
    tokenizer = str(assets / "tokenizers" / "mistral-7b-v0.1.sp.model")
    work = Path(session.create_tmp())
    data = {}
    for split in ("train", "valid"):
        data[split] = work / f"wiki_{split}"
        session.run("mf-data", "preprocess", "--dataset_type", "wiki", "--input_glob",
                    str(assets / "text" / f"wiki.{split}.tokens"), "--tokenizer", tokenizer, "--seq_length", "128",
                    "--output_file", str(data[split]), "--format", "indexed", "--no_progress")
    output = work / "output"
    session.run("mf-train", "run", "--config", str(DEMO_YAML), "--train_data", str(data["train"]), "--eval_data",
                str(data["valid"]), "--output_dir", str(output), "--set", f"processor.tokenizer.vocab_file={tokenizer}",
                *session.posargs)
    final = max((output / "checkpoint" / "rank_0").iterdir(), key=lambda p: int(p.name.rpartition("_")[2]))
    session.run("mf-generate", "run", "--model", str(final), "--do_sample", "false", "--max_new_tokens", "40",
                "--predict_data", "The Python interpreter")
    session.log(f"outputs in {output}: checkpoints, metrics.jsonl, tensorboard/, loss_curve.png")
