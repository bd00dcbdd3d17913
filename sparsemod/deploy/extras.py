"""The deploy extras are optional: importing one that is missing is one line naming pip."""

from __future__ import annotations

import importlib
from types import ModuleType

from sparsemod.errors import ConfigError

INSTALL = "pip install -r requirements-deploy.txt"


def require(export: str, module: str) -> ModuleType:
    """``module``, or a ConfigError saying that ``export = {export}`` needs the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ConfigError(f"[TEST] export: {export} needs {error.name or module}, which is not "
                          f"installed ({INSTALL})") from None
