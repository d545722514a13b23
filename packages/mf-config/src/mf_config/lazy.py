"""Lazy package APIs: a package lists ``{name: module}`` and each name is imported on first use, so importing the
package stays light (no mindspore, numpy or torch until a name that needs them is used)."""

import importlib
import sys


def lazy_exports(package: str, exports: dict[str, str]):
    """``(__getattr__, __dir__)`` for the package ``package`` (its ``__name__``) whose names in ``exports`` come
    from the modules named there."""

    def __getattr__(name):
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module '{package}' has no attribute '{name}'")

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
