"""Libraries imported on first use, for modules that most commands import but few of them call into.

`bankcore stats`, `check` or `export-lessons` open the bank through modules that also hold the retrieval and
bulk-writing code, which need numpy and pyarrow (~0.25 CPU s to import, half of such a command's cold start) while
those commands never touch them. Such a module says ``np = lazy_module("numpy", globals())`` instead of
``import numpy as np``: the first attribute read (``np.float32``) imports numpy and puts the real module in place of
the stand-in in that module's globals, so from then on every use is the plain module, at no cost per call. Nothing
is put in sys.modules before the import, so `"numpy" in sys.modules` still says whether numpy was loaded.

Code that runs at import time (a module-level constant, a default argument) must not read the stand-in, or the
import is no longer deferred: tests/test_cli_cold_start.py checks what a read command loads.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any


class LazyModule(ModuleType):
    """Stands for module `name` in `owner` (a module's globals) until an attribute of it is first read."""

    def __init__(self, name: str, owner: dict[str, Any]) -> None:
        super().__init__(name)
        self.__dict__["_lazy_owner"] = owner

    def __getattr__(self, attribute: str) -> Any:
        module = importlib.import_module(self.__name__)
        owner = self.__dict__["_lazy_owner"]
        for key, value in list(owner.items()):
            if value is self:
                owner[key] = module
        return getattr(module, attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self.__name__!r}, not imported yet>"


def lazy_module(name: str, owner: dict[str, Any]) -> Any:
    """Module `name` if it is already imported (nothing to save), else a stand-in that imports it on first use
    (see the module's doc). `owner` is the calling module's ``globals()``."""
    return sys.modules.get(name) or LazyModule(name, owner)
