"""Secrets: placeholders in rendered files, resolution at apply time, masking in output.

Rule: rendered files only ever hold placeholders; real values are resolved from the
source an environment names (an env var or a key of a YAML file outside the
repository) at the moment they are needed, and every text shown to a person or
written to a transcript goes through ``Secrets.mask`` first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from akops import files
from akops.environment import SecretRef
from akops.errors import InputError, SecretError

PLACEHOLDER_RE = re.compile(r"<<akops-secret:([a-z0-9_]+)(?:\|([a-z]+))?>>")
MASK = "***"

#: How a value is written where it lands. PgBouncer's auth_file quotes fields with
#: double quotes and escapes a double quote inside by doubling it.
ENCODINGS: dict[str, Callable[[str], str]] = {
    "userlist": lambda value: value.replace('"', '""'),
}


def placeholder(name: str, encoding: str | None = None) -> str:
    """The marker rendered in place of secret ``name`` (written with ``encoding`` on inject)."""
    if encoding is not None and encoding not in ENCODINGS:
        raise SecretError(f"unknown secret encoding {encoding!r} (known: {', '.join(ENCODINGS)})")
    return f"<<akops-secret:{name}|{encoding}>>" if encoding else f"<<akops-secret:{name}>>"


def placeholders_in(text: str) -> set[str]:
    """Names of the secrets whose placeholders appear in ``text``."""
    return {m.group(1) for m in PLACEHOLDER_RE.finditer(text)}


@dataclass(frozen=True)
class Secrets:
    """Resolved secret values. ``repr`` never shows them."""

    values: Mapping[str, str] = field(default_factory=dict, repr=False)

    def inject(self, text: str) -> str:
        """Replace every placeholder in ``text`` with its value; unknown names are an error."""

        def sub(m: re.Match[str]) -> str:
            name, encoding = m.group(1), m.group(2)
            if name not in self.values:
                raise SecretError(f"secret {name!r} is used but was not resolved")
            if encoding is not None and encoding not in ENCODINGS:
                raise SecretError(f"secret {name!r}: unknown encoding {encoding!r}")
            value = self.values[name]
            return ENCODINGS[encoding](value) if encoding else value

        return PLACEHOLDER_RE.sub(sub, text)

    def mask(self, text: str) -> str:
        """``text`` with every known secret value, as written or encoded, replaced by ``***``."""
        forms = {v for v in self.values.values() if v}
        forms |= {encode(v) for v in forms for encode in ENCODINGS.values()}
        for value in sorted(forms, key=len, reverse=True):
            text = text.replace(value, MASK)
        return text


def resolve_one(name: str, ref: SecretRef, environ: Mapping[str, str] | None = None) -> str:
    """Read one secret from its source. Errors name the source, never the value."""
    environ = os.environ if environ is None else environ
    if ref.env is not None:
        value = environ.get(ref.env)
        if not value:
            raise SecretError(f"secret {name!r}: environment variable {ref.env} is not set")
        return _checked(name, value, f"environment variable {ref.env}")
    assert ref.file is not None and ref.key is not None
    path = Path(ref.file).expanduser()
    if not path.exists() and not path.is_symlink():
        raise SecretError(f"secret {name!r}: secrets file {path} does not exist")
    try:
        data = yaml.safe_load(files.read_text(path))
    except InputError as e:
        # Its own wording names the path and why (a FIFO, too large, not UTF-8), never content.
        raise SecretError(f"secret {name!r}: secrets file {e}") from e
    except yaml.YAMLError as e:
        # The YAML error's text may quote the file, so it stays out of the message.
        raise SecretError(f"secret {name!r}: cannot read secrets file {path}") from e
    value = data.get(ref.key) if isinstance(data, dict) else None
    if not isinstance(value, str) or not value:
        raise SecretError(f"secret {name!r}: {path} has no non-empty string at key {ref.key!r}")
    return _checked(name, value, f"{path} key {ref.key!r}")


def _checked(name: str, value: str, source: str) -> str:
    # A line break would split userlist.txt and env files; no quoting makes it safe.
    if any(c in value for c in "\r\n\0"):
        raise SecretError(f"secret {name!r} from {source} contains a line break or NUL byte")
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


def resolve_needed_or_why(
    refs: Mapping[str, SecretRef], needed: Iterable[str], environ: Mapping[str, str] | None = None
) -> tuple[Secrets, dict[str, str]]:
    """Every secret that resolves here, and for each of ``needed`` that does not, the one-line
    reason naming its source: a dry run plans without what it cannot read."""
    values: dict[str, str] = {}
    missing: dict[str, str] = {}
    for name in sorted(set(refs) | set(needed)):
        ref = refs.get(name)
        try:
            if ref is None:
                raise SecretError(
                    f"secret {name!r} is used but the environment does not declare it"
                )
            values[name] = resolve_one(name, ref, environ)
        except SecretError as e:
            if name in needed:
                missing[name] = str(e)
    return Secrets(values), missing


def resolve_available(
    refs: Mapping[str, SecretRef], environ: Mapping[str, str] | None = None
) -> Secrets:
    """Every secret of ``refs`` that resolves here, the others left out: for masking only.

    A read-only task (watching a rollout) must not need the database password, yet it
    masks whatever secrets it can read in the logs it prints.
    """
    values: dict[str, str] = {}
    for name, ref in refs.items():
        try:
            values[name] = resolve_one(name, ref, environ)
        except SecretError:
            continue
    return Secrets(values)
