"""Sessions: `lint` (ruff + import-linter layers), `typed` (the public API's annotations), `tests-mf-X` for each
of the eight packages (tag `tests`), `build` (a wheel and an sdist of every package), `standalone-mf-tokenizers`
and `standalone-mf-ckpt` (each installed alone, as its README says, into a fresh environment), `readmes` (every
README's examples) and `demo`.

`nox` runs them all; `nox -l` lists them. Environments are made by uv, whose cache hard-links
mindspore and torch into each session instead of installing them again. The machine's pip `find-links`
(where a local torch CPU wheel may lie) is passed on to uv.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nox
import tomllib
from nox.virtualenv import find_uv

ROOT = Path(__file__).parent
DEMO_YAML = ROOT / "packages" / "mf-train" / "src" / "mf_train" / "configs" / "pretrain_llama_tiny.yaml"
PACKAGES = sorted(p.name for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").is_file())

nox.options.default_venv_backend = "uv"
STANDALONE = {"mf-tokenizers": "process_pool.py", "mf-ckpt": "hf_round_trip.py"}
nox.options.sessions = ["lint", "typed", "build", *[f"tests-{p}" for p in PACKAGES],
                        *[f"standalone-{p}" for p in STANDALONE], "install", "readmes", "demo"]
nox.options.error_on_missing_interpreters = True
UV = find_uv()[1]


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


def _name(requirement):
    return requirement.split(";")[0].split("[")[0].split("=")[0].split(">")[0].split("<")[0].split("!")[0].strip()


def _local_deps(package, seen=None):
    """The in-repo packages ``package`` needs (runtime and test), recursively, lowest first."""
    seen = [] if seen is None else seen
    for req in _requirements(package):
        name = _name(req)
        if name in PACKAGES and name not in seen and name != package:
            _local_deps(name, seen)
            seen.append(name)
    return seen


def _env(session):
    links = _pip_find_links()
    if links:
        session.env["UV_FIND_LINKS"] = links
    session.env["UV_LINK_MODE"] = "hardlink"


def _tests(package):
    def tests(session):
        _env(session)
        args = []
        for dep in _local_deps(package):
            args += ["-e", f"packages/{dep}"]
        session.install("--no-sources", *args, "-e", f"packages/{package}[test]")
        session.chdir(f"packages/{package}")
        session.run("pytest", "tests", "-q", "--durations=5", "--ignore=tests/standalone", *session.posargs)
    tests.__doc__ = f"{package}'s tests: it editable with its in-repo dependencies and test extras."
    return tests


for _package in PACKAGES:
    nox.session(name=f"tests-{_package}", tags=["tests"])(_tests(_package))


def _standalone(package, script):
    def standalone(session):
        _env(session)
        _offer_decoys(session)
        session.run(*_install_command(package), external=True)
        size = _installed_mb(session)
        session.run("python", "-c", _CHECK_NO_DECOY)
        if package == "mf-ckpt":
            session.run(UV, "pip", "install", "safetensors", external=True)  # writes the Hugging Face folder
        session.run("python", f"packages/{package}/tests/standalone/{script}", "--standalone")
        session.log(f"{package} installed with its dependencies: {size:.0f} MB")
    standalone.__doc__ = f"{package} alone in a fresh environment, installed by its README's command: its scenario."
    return standalone


for _package, _script in STANDALONE.items():
    nox.session(name=f"standalone-{_package}", tags=["standalone"])(_standalone(_package, _script))


@nox.session(venv_backend="none")
def install(session):
    """Each other package installed alone by its README's command into a fresh environment; its CLI starts."""
    _env(session)
    _offer_decoys(session)
    for package in PACKAGES:
        if package in STANDALONE:
            continue
        venv = Path(session.create_tmp()).resolve() / f"venv-{package}"
        session.run(UV, "venv", "--quiet", "--clear", str(venv), external=True)
        env = {"VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
        session.run(*_install_command(package), "--quiet", env=env, external=True)
        session.run(str(venv / "bin" / "python"), "-c", _CHECK_NO_DECOY, external=True)
        session.run(str(venv / "bin" / package), "--help", env=env, external=True, silent=True)
        site = next(venv.glob("lib/python*/site-packages"))
        session.log(f"{package} installed with its dependencies: {_du_mb(site):.0f} MB")


def _install_command(package):
    """The install command of the package's README (`$ uv pip install ./packages/mf-X`), with uv's own path."""
    for line in (ROOT / "packages" / package / "README.md").read_text().splitlines():
        if line.startswith("$ uv pip install "):
            words = line[2:].split()
            if words[3:] == [f"./packages/{package}"]:
                return [UV, *words[1:]]
    raise SystemExit(f"packages/{package}/README.md: no line `$ uv pip install ./packages/{package}`")


def _offer_decoys(session):
    decoys = _decoy_wheels(Path(session.create_tmp()).resolve() / "decoys")
    session.env["UV_FIND_LINKS"] = ",".join(filter(None, [session.env.get("UV_FIND_LINKS"), decoys]))


_CHECK_NO_DECOY = ("from importlib.metadata import distributions\n"
                   "bad = [d.metadata['Name'] for d in distributions() if d.version == '99.0']\n"
                   "assert not bad, f'installed from an index instead of the clone: {bad}'")


def _decoy_wheels(folder):
    """A wheel `mf-X 99.0` of every package, offered beside the index: an install that asks an index for an
    in-repo name would take it (what anyone who registered the name on a public index could do)."""
    import zipfile
    folder.mkdir(parents=True, exist_ok=True)
    for package in PACKAGES:
        module, dist = package.replace("-", "_"), f"{package.replace('-', '_')}-99.0"
        with zipfile.ZipFile(folder / f"{dist}-py3-none-any.whl", "w") as whl:
            whl.writestr(f"{module}/__init__.py", "raise ImportError('decoy')\n")
            whl.writestr(f"{dist}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {package}\nVersion: 99.0\n")
            whl.writestr(f"{dist}.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
            whl.writestr(f"{dist}.dist-info/RECORD", "")
    return str(folder)


def _installed_mb(session):
    site = session.run("python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", silent=True)
    return _du_mb(site.strip())


def _du_mb(folder):
    out = subprocess.run(["du", "-sm", str(folder)], capture_output=True, text=True, check=True)
    return float(out.stdout.split()[0])


@nox.session(venv_backend="none")
def build(session):
    """A wheel and an sdist of every package into dist/, each at its own version; in-repo dependencies have sources."""
    _check_sources()
    out = ROOT / "dist"
    for package in PACKAGES:
        session.run(UV, "build", "--quiet", "--out-dir", str(out), f"packages/{package}", external=True)
        shutil.rmtree(ROOT / "packages" / package / "build", ignore_errors=True)  # setuptools' leftovers
    for package in PACKAGES:
        version = tomllib.loads((ROOT / "packages" / package / "pyproject.toml").read_text())["project"]["version"]
        stem = f"{package.replace('-', '_')}-{version}"
        for name in (f"{stem}-py3-none-any.whl", f"{stem}.tar.gz"):
            if not (out / name).is_file():
                session.error(f"{package}: {name} was not built")
    session.log(f"built {len(PACKAGES)} wheels and sdists into {out}")


def _check_sources():
    """Every in-repo dependency has a uv path source, so no index is ever asked for an unpublished mf name."""
    for package in PACKAGES:
        meta = tomllib.loads((ROOT / "packages" / package / "pyproject.toml").read_text())
        sources = meta.get("tool", {}).get("uv", {}).get("sources", {})
        extras = meta["project"].get("optional-dependencies", {}).values()
        for req in meta["project"].get("dependencies", []) + [r for extra in extras for r in extra]:
            name = _name(req)
            if name in PACKAGES and sources.get(name) != {"path": f"../{name}"}:
                raise SystemExit(f"packages/{package}/pyproject.toml: {name} needs "
                                 f"`{name} = {{ path = \"../{name}\" }}` under [tool.uv.sources]")


@nox.session
def lint(session):
    """ruff on all code; import-linter contracts (.importlinter) for DESIGN.md's layers."""
    _env(session)
    session.install("ruff", "import-linter")
    session.install("--no-deps", "--no-sources", *[arg for p in PACKAGES for arg in ("-e", f"packages/{p}")])
    session.run("ruff", "check", "packages", "noxfile.py", "tests", "tools",
                *(["benchmarks"] if (ROOT / "benchmarks").is_dir() else []))
    session.run("lint-imports")


@nox.session
def typed(session):
    """Every public function and class of the eight packages annotated (tools/check_typed_surface.py: the names in
    each ``__all__``, their methods, the CLIs' callbacks); the packages are installed since the check imports them."""
    _env(session)
    session.install("--no-sources", "pytest", *[arg for p in PACKAGES for arg in ("-e", f"packages/{p}")])
    session.run("pytest", "tests/test_typed_surface.py", "-q")
    session.run("python", "tools/check_typed_surface.py")


@nox.session
def demo(session):
    """The main job: train a tiny Llama on the shared text, nothing to download, a few minutes on 2 CPU cores.

    Validates the shared MindFormers YAMLs, preprocesses WikiText-layout text with the Mistral tokenizer
    (mf-data), pretrains a 2-layer Llama from mf-train's example YAML with evaluation on the validation text
    (mf-train run: progress bar, checkpoints, metrics.jsonl, TensorBoard, loss curve), then generates from the
    final checkpoint (mf-generate run). ``nox -s demo -- --set runner_config.sink_size=N`` changes the step count.
    """
    _env(session)
    used = ("mf-config", "mf-tokenizers", "mf-models", "mf-data", "mf-ckpt", "mf-parallel", "mf-train", "mf-generate")
    session.install("--no-sources", *[arg for p in used for arg in ("-e", f"packages/{p}")])
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


@nox.session
def readmes(session):
    """Every README's examples, run as a user would type them (tests/test_readmes.py says how)."""
    _env(session)
    args = [arg for p in PACKAGES for arg in ("-e", f"packages/{p}[test]")]
    session.install("--no-sources", "nox", *args)
    session.run("pytest", "tests/test_readmes.py", "-q", "--durations=10", *session.posargs)
