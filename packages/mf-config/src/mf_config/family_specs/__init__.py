"""The model families mf ships, one module each; importing this package registers them all.

A module here registers its ``FamilySpec`` (``mf_config.spec.register_family``) when imported; every module of
this folder is imported, so a new family is one new file (plus its network in mf-models).
"""

import importlib
import pkgutil

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
    importlib.import_module(f"{__name__}.{_module}")
