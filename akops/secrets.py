"""Secrets: placeholders in rendered files, resolution at apply time, masking in output.

Rule: rendered files only ever hold placeholders; real values are resolved from the
source an environment names (an env var or a key of a YAML file outside the
repository) at the moment they are needed, and every text shown to a person or
written to a transcript goes through ``Secrets.mask`` first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from akops.environment import SecretRef
from akops.errors import SecretError

PLACEHOLDER_RE = re.compile(r"<<akops-secret:([a-z0-9_]+)>>")
MASK = "***"


def placeholder(name: str) -> str:
    """The marker rendered in place of secret ``name``."""
    return f"<<akops-secret:{name}>>"


def placeholders_in(text: str) -> set[str]:
    """Names of the secrets whose placeholders appear in ``text``."""
    return set(PLACEHOLDER_RE.findall(text))


@dataclass(frozen=True)
class Secrets:
    """Resolved secret values. ``repr`` never shows them."""

    values: Mapping[str, str] = field(default_factory=dict, repr=False)

    def inject(self, text: str) -> str:
        """Replace every placeholder in ``text`` with its value; unknown names are an error."""

        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in self.values:
                raise SecretError(f"secret {name!r} is used but was not resolved")
            return self.values[name]

        return PLACEHOLDER_RE.sub(sub, text)

    def mask(self, text: str) -> str:
        """``text`` with every known secret value (longest first) replaced by ``***``."""
        for value in sorted(self.values.values(), key=len, reverse=True):
            if value:
                text = text.replace(value, MASK)
        return text


def resolve_one(name: str, ref: SecretRef, environ: Mapping[str, str] | None = None) -> str:
    """Read one secret from its source. Errors name the source, never the value."""
    environ = os.environ if environ is None else environ
    if ref.env is not None:
        value = environ.get(ref.env)
        if not value:
            raise SecretError(f"secret {name!r}: environment variable {ref.env} is not set")
        return value
    assert ref.file is not None and ref.key is not None
    path = Path(ref.file).expanduser()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise SecretError(f"secret {name!r}: secrets file {path} does not exist") from e
    except (OSError, yaml.YAMLError) as e:
        raise SecretError(f"secret {name!r}: cannot read secrets file {path}") from e
    value = data.get(ref.key) if isinstance(data, dict) else None
    if not isinstance(value, str) or not value:
        raise SecretError(f"secret {name!r}: {path} has no non-empty string at key {ref.key!r}")
    return value


def resolve(
    refs: Mapping[str, SecretRef],
    names: set[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Secrets:
    """Resolve ``names`` (default: all) of ``refs``."""
    wanted = set(refs) if names is None else names
    missing = wanted - set(refs)
    if missing:
        raise SecretError(f"secret(s) {', '.join(sorted(missing))} not defined under 'secrets:'")
    return Secrets({n: resolve_one(n, refs[n], environ) for n in sorted(wanted)})
