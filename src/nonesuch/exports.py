"""How a package exports its public API without importing it: names resolve on first use.

    __getattr__, __dir__, __all__ = lazy_exports(__name__, {"nonesuch.generate.folder": ["generate_to_folder"]})

`from nonesuch.generate import generate_to_folder` works as with an eager import, but importing
the package itself stays cheap: `nonesuch --help` does not load torch, and the finish worker
processes, which import nonesuch.generate.finish (and so run nonesuch/generate/__init__.py),
do not pay for the generator they never use.
"""

from __future__ import annotations

import importlib


def lazy_exports(package: str, table: dict[str, list[str]]):
    """(__getattr__, __dir__, __all__) for `package`, exporting each module's listed names."""
    where = {name: module for module, names in table.items() for name in names}

    def __getattr__(name: str):
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(where[name]), name)

    def __dir__() -> list[str]:
        return sorted(where)

    return __getattr__, __dir__, sorted(where)
