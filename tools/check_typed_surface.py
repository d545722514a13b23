"""Every function of the public surface has annotations on all its parameters and its return (`nox -s typed`).

The surface of a package ``mf_X``: each name in ``mf_X.__all__`` (lazy names are imported), a class counting with
its ``__init__`` and its public methods, class/static methods and properties, its own and those of its bases from
an mf package (MindSpore's and click's are theirs to type); and the click callbacks of the CLI ``mf_X.cli:main``,
the group and every command under it. ``construct`` and the methods a compiled graph calls (``NOT_CHECKED``) are
left out: MindSpore compiles them from their source in graph mode, and they are hooks, not called by users.

    python tools/check_typed_surface.py [PACKAGE ...]    # default: the eight mf packages

prints ``path:line qualified.name: missing annotation for 'x'`` (or ``missing return annotation``) per gap and
exits 1 if there is any. Annotations are read as written (never evaluated), so ``TYPE_CHECKING`` imports are fine.
"""

import functools
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Iterator

PACKAGES = ("mf_config", "mf_tokenizers", "mf_models", "mf_data", "mf_ckpt", "mf_parallel", "mf_train",
            "mf_generate")
# Run inside MindSpore graphs, which compile them from their source: a Cell's ``construct`` and what compiled
# graphs call (mf_models.decoding, mf_train.step's TrainStep, mf_train.optim's optimizers): left as they are, and
# not user API
NOT_CHECKED = {"construct", "compute_logits", "forward_sequence", "tied_logits", "tied_logits_of", "micro_step",
               "global_norm_of", "next_step", "after_reads"}


def _is_ours(obj: object, roots: set[str]) -> bool:
    return (getattr(obj, "__module__", None) or "").split(".")[0] in roots


def _members(cls: type) -> Iterator[tuple[str, Callable, bool]]:
    """``(name, function, bound)`` of the class's own ``__init__`` and public methods and properties; ``bound``:
    its first parameter is self or cls."""
    fields = getattr(cls, "__dataclass_fields__", {})  # a field's default may be a function: data, not a method
    for name, value in vars(cls).items():
        if (name.startswith("_") and name != "__init__") or name in NOT_CHECKED or name in fields:
            continue
        if isinstance(value, staticmethod):
            yield name, value.__func__, False
        elif isinstance(value, classmethod):
            yield name, value.__func__, True
        elif isinstance(value, property):
            for part in (value.fget, value.fset):
                if part is not None:
                    yield name, part, True
        elif isinstance(value, functools.cached_property):
            yield name, value.func, True
        elif inspect.isfunction(value):
            yield name, value, True


def _class_functions(cls: type, roots: set[str]) -> Iterator[tuple[str, Callable, bool]]:
    for base in cls.__mro__:
        if _is_ours(base, roots):
            for name, func, bound in _members(base):
                yield f"{base.__module__}.{base.__qualname__}.{name}", func, bound


def _cli_functions(package: str) -> Iterator[tuple[str, Callable, bool]]:
    """The callbacks of ``package.cli:main`` (a click group) and of every command under it, recursively."""
    if importlib.util.find_spec(f"{package}.cli") is None:
        return
    import click

    module = importlib.import_module(f"{package}.cli")
    todo = [("main", module.main)]
    while todo:
        path, command = todo.pop()
        if command.callback is not None:
            yield f"{package}.cli[{path}]", command.callback, False
        if isinstance(command, click.Group):
            ctx = click.Context(command)
            for name in command.list_commands(ctx):
                todo.append((f"{path} {name}", command.get_command(ctx, name)))


def surface(package: str) -> Iterator[tuple[str, Callable, bool]]:
    """``(qualified name, function, bound)`` of every function on the package's public surface."""
    module = importlib.import_module(package)
    roots = {package.split(".")[0], *PACKAGES}
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj):
            yield from _class_functions(obj, roots)
        elif callable(obj) and inspect.isfunction(inspect.unwrap(obj)):
            yield f"{obj.__module__}.{obj.__qualname__}", obj, False
    yield from _cli_functions(package)


def gaps(func: Callable, bound: bool) -> list[str]:
    """What the function lacks: ``missing annotation for 'x'`` per parameter, ``missing return annotation``."""
    func = inspect.unwrap(func)
    signature = inspect.signature(func, follow_wrapped=False)
    params = list(signature.parameters.values())[1 if bound else 0:]
    out = [f"missing annotation for '{p.name}'" for p in params if p.annotation is inspect.Parameter.empty]
    if signature.return_annotation is inspect.Signature.empty:
        out.append("missing return annotation")
    return out


def _where(func: Callable) -> str:
    func = inspect.unwrap(func)
    try:
        path = inspect.getsourcefile(func) or "?"
    except TypeError:
        path = "?"
    if path != "?" and not os.path.relpath(path).startswith(".."):
        path = os.path.relpath(path)
    return f"{path}:{func.__code__.co_firstlineno}"


def report(packages: tuple[str, ...] | list[str]) -> list[str]:
    """One line per gap over the packages' surfaces, each function once."""
    lines, seen = [], set()
    for package in packages:
        for qualname, func, bound in surface(package):
            if id(func) in seen:
                continue
            seen.add(id(func))
            lines += [f"{_where(func)} {qualname}: {gap}" for gap in gaps(func, bound)]
    return lines


def main(argv: list[str]) -> int:
    packages = argv or list(PACKAGES)
    lines = report(packages)
    print("\n".join(lines) if lines else f"the public surface of {', '.join(packages)} is fully annotated")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
