"""The lint rule modules. Registering a module is adding its name to ``RULE_MODULES``.

Rule: pure. Each module holds rule functions decorated with
``akops.lint.registry.rule`` (see that module for the signature and the two scopes).
"""

from __future__ import annotations

import importlib

RULE_MODULES: tuple[str, ...] = (
    "layers",
    "replicas",
    "containers",
    "secrets",
    "authentik",
    "database",
    "pgbouncer",
    "outpost",
    "images",
    "security",
    "netpol",
    "alerts",
)


def load() -> None:
    """Import every rule module once (importing registers its rules)."""
    for name in RULE_MODULES:
        importlib.import_module(f"{__name__}.{name}")
