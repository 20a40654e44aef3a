"""Which secrets a run must mask: every secret the environment names, resolved where possible.

Rule: reads secrets from their sources (the ``environ`` it is handed, secrets files) through
``akops.secrets``; nothing else. A secret that does not resolve here is remembered with the
reason, so a step that needs it fails saying why.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel

from akops.environment import Environment, SecretRef
from akops.errors import SecretError
from akops.secrets import Secrets, resolve_one


def secret_refs(env: Environment) -> dict[str, SecretRef]:
    """Every secret an environment names: ``secrets:``, and any other ``SecretRef`` in it (the
    outpost API token) under its dotted field path."""
    found: dict[str, SecretRef] = dict(env.secrets)

    def walk(value: object, path: str) -> None:
        if isinstance(value, SecretRef):
            found.setdefault(path, value)
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name), f"{path}.{name}" if path else name)
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]")

    for name in type(env).model_fields:
        if name != "secrets":
            walk(getattr(env, name), name)
    return found


def available_secrets(
    env: Environment, environ: Mapping[str, str]
) -> tuple[Secrets, dict[str, str]]:
    """Every secret of ``env`` that resolves here (for masking), and why the others did not."""
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name, ref in secret_refs(env).items():
        try:
            values[name] = resolve_one(name, ref, environ)
        except SecretError as e:
            errors[name] = str(e)
    return Secrets(values), errors
