"""What every entry point shares: choosing the environment, reading typed flag values.

Rule: pure (the process environment comes in as a mapping). Invoke casts an ``int``- or
``float``-defaulted flag itself and answers ``--timeout abc`` with a ValueError traceback,
so numeric flags are declared as strings and read here, with one line naming the flag.

A ``Request`` is the typed inputs of one operation: a frozen dataclass whose fields are
declared with ``option`` (help, parser, repeatability, positional). Every surface derives
from it: the Invoke task (``akops.tasks.common.operation``), ``checks/``' pytest options,
the runbook's check-step flags; ``Request.flags()`` is the introspection API the reference
docs are generated from. A new parser is a function ``(flag, raw) -> value`` that raises
``InputError`` naming the flag.

There is no implicit environment: a task that reads one needs ``--env`` or ``AKOPS_ENV``
(a shell that works on one cluster all day may export it); a silent default of ``prod``
sent a read-only ``verify --only http.live`` straight at production.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, TypeVar

from akops import files
from akops.errors import InputError
from akops.quantities import parse_quantity

ENV_VAR = "AKOPS_ENV"


def require_env(flag: str | None, environ: Mapping[str, str], known: Sequence[str]) -> str:
    """The environment named by ``--env``, else by ``AKOPS_ENV``; InputError when neither."""
    if flag:
        return flag
    chosen = environ.get(ENV_VAR, "").strip()
    if chosen:
        return chosen
    names = ", ".join(known) or "none defined"
    raise InputError(f"--env is required (one of: {names}), or set {ENV_VAR}")


def seconds(flag: str, value: str | float | None, *, allow_zero: bool = False) -> float | None:
    """A positive, finite number of seconds from ``--flag VALUE`` (None stays None)."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError) as e:
        raise InputError(f"--{flag} {value!r}: expected a number of seconds") from e
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise InputError(f"--{flag} {value!r}: expected a positive, finite number of seconds")
    return number


def count(
    flag: str, value: str | int | None, *, minimum: int = 0, maximum: int | None = None
) -> int | None:
    """A whole number in ``minimum..maximum`` from ``--flag VALUE`` (None stays None)."""
    if value is None or value == "":
        return None
    try:
        number = int(str(value), 10)
    except ValueError as e:
        raise InputError(f"--{flag} {value!r}: expected a whole number") from e
    if number < minimum:
        raise InputError(f"--{flag} {value!r}: must be at least {minimum}")
    if maximum is not None and number > maximum:
        raise InputError(f"--{flag} {value!r}: must be at most {maximum}")
    return number


#: A size in bytes as Kubernetes writes it: digits and a binary or decimal suffix.
_SIZE = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$")


def size(flag: str, value: str | None, *, minimum: int = 1, maximum: int) -> int | None:
    """A size in bytes (``512Mi``, ``2Gi``, ``1000000``) from ``--flag VALUE`` (None stays None)."""
    if value is None or value == "":
        return None
    number = parse_quantity(value) if _SIZE.match(value) else None
    if number is None:
        raise InputError(f"--{flag} {value!r}: expected a size such as 64Mi, 512Mi or 2Gi")
    if not minimum <= number <= maximum:
        raise InputError(
            f"--{flag} {value!r}: must be between {_bytes(minimum)} and {_bytes(maximum)}"
        )
    return int(number)


def _bytes(n: int) -> str:
    for unit, factor in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if n >= factor and n % factor == 0:
            return f"{n // factor}{unit}"
    return f"{n} bytes"


# --- typed requests: a dataclass whose fields carry their flags ----------------------------

#: Reads one flag's value: ``parse(flag, raw)`` returns the typed value or raises InputError
#: naming ``flag``. Every string a flag carries goes through one (``text`` by default).
Parser = Callable[[str, str], Any]
_META = "akops.flag"


def text(flag: str, raw: str) -> str:
    """A free-form value, as given (the hook every string flag goes through)."""
    return raw


def named(what: str, *, also: Iterable[str] = ()) -> Parser:
    """A positional NAME (of a ``what``): a flag typed where the name goes is refused (Invoke
    hands ``--x`` typed there to the name); ``also`` lists the flag-like words let through."""
    let_through = frozenset(also)

    def parse(flag: str, raw: str) -> str:
        raw = text(flag, raw)
        if raw.startswith("-") and raw not in let_through:
            raise InputError(f"{flag}: expected a {what} name, got {raw!r}")
        return raw

    return parse


def secs(*, allow_zero: bool = False) -> Parser:
    """A positive, finite number of seconds (``allow_zero``: 0 too)."""

    def parse(flag: str, raw: str) -> float | None:
        return seconds(flag.lstrip("-"), text(flag, raw), allow_zero=allow_zero)

    return parse


def whole(*, minimum: int = 0, maximum: int | None = None) -> Parser:
    """A whole number in ``minimum..maximum``."""

    def parse(flag: str, raw: str) -> int | None:
        return count(flag.lstrip("-"), text(flag, raw), minimum=minimum, maximum=maximum)

    return parse


def bytes_size(*, minimum: int, maximum: int) -> Parser:
    """A Kubernetes size of bytes (``512Mi``) in ``minimum..maximum``; the text as given."""

    def parse(flag: str, raw: str) -> str:
        size(flag.lstrip("-"), text(flag, raw), minimum=minimum, maximum=maximum)
        return raw

    return parse


def output_file(*, parents: bool = False) -> Parser:
    """A file the operation will write: checked when the flag is read, before anything runs
    (``akops.files.output_file``: not a directory or special file, a directory to put it in);
    the path as given."""

    def parse(flag: str, raw: str) -> str:
        files.output_file(flag, text(flag, raw), parents=parents)
        return raw

    return parse


def output_dir(flag: str, raw: str) -> str:
    """A directory the operation will write into (made when missing); not an existing file."""
    files.output_dir(flag, text(flag, raw))
    return raw


def one_of(*choices: str) -> Parser:
    """One of ``choices``, exactly."""

    def parse(flag: str, raw: str) -> str:
        if text(flag, raw) not in choices:
            among = " or ".join(choices) if len(choices) == 2 else f"one of {', '.join(choices)}"
            raise InputError(f"{flag} must be {among}, not {raw!r}")
        return raw

    return parse


@dataclass(frozen=True)
class Flag:
    """One field of a request as an operator sees it: the introspection API of requests."""

    #: the field's name in the request (``outpost_url``)
    name: str
    #: what is typed: ``--outpost-url``, or ``NAME`` for a positional argument
    flag: str
    help: str
    #: what the value is, in words for the reference: text, switch, seconds, count, choice...
    kind: str
    #: the typed default (``None`` when the field is required)
    default: Any
    repeatable: bool = False
    positional: bool = False
    required: bool = False
    #: surfaces beyond the task that take this flag (``"check-step"``: a runbook check step)
    groups: frozenset[str] = frozenset()
    parse: Parser = text

    @property
    def switch(self) -> bool:
        return self.kind == "switch"


_UNSET: Any = object()


def option(
    help: str,
    *,
    default: Any = _UNSET,
    parse: Parser = text,
    kind: str = "text",
    repeatable: bool = False,
    positional: bool = False,
    required: bool = False,
    groups: Iterable[str] = (),
) -> Any:
    """Declare a request field and its flag (a ``dataclasses.field``)."""
    if isinstance(default, bool):
        kind = "switch"
    if default is _UNSET:  # not given: a repeatable flag is empty, any other one None
        default = () if repeatable else None
    meta = {
        _META: dict(
            help=help,
            parse=parse,
            kind=kind,
            repeatable=repeatable,
            positional=positional,
            required=required or positional,
            groups=frozenset(groups),
        )
    }
    if positional or required:
        return field(metadata=meta)
    return field(default=default, metadata=meta)


R = TypeVar("R", bound="Request")


@dataclass(frozen=True, kw_only=True)
class Request:
    """The inputs of one operation, typed; each field declared with ``option``.

    The Invoke task, ``checks/``' pytest options and runbook step flags derive from the
    fields (``flags()``); the library takes the request itself. ``parse`` reads raw flag
    values (strings, switches, lists) through each field's parser before anything starts.
    """

    @classmethod
    def flags(cls) -> tuple[Flag, ...]:
        """Every field's ``Flag``, in declaration order."""
        out = []
        for f in fields(cls):
            meta = f.metadata.get(_META)
            if meta is None:
                continue
            default = None if f.default is MISSING else f.default
            shown = f.name.upper() if meta["positional"] else "--" + _dashed(f.name)
            out.append(Flag(name=f.name, flag=shown, default=default, **meta))
        return tuple(out)

    def needs_env(self) -> bool:
        """Whether this request names an environment (its ``environment`` field is then
        required: ``--env`` or AKOPS_ENV); a listing request (``rehearse --list``) does not."""
        return True

    @classmethod
    def flag(cls, name: str) -> Flag:
        return next(f for f in cls.flags() if f.name == name)

    @classmethod
    def parse(cls: type[R], raw: Mapping[str, Any]) -> R:
        """A request from raw values by field name (what Invoke hands a task): each through
        its field's parser; a missing or empty value is the default. InputError names the flag."""
        values: dict[str, Any] = {}
        for spec in cls.flags():
            given = raw.get(spec.name)
            if spec.switch:
                values[spec.name] = bool(given) if given is not None else spec.default
            elif spec.repeatable:
                items = [given] if isinstance(given, str) else list(given or ())
                parsed = tuple(spec.parse(spec.flag, str(v)) for v in items)
                values[spec.name] = parsed if parsed else spec.default
            elif given is None or given == "":
                if spec.required:
                    raise InputError(f"{spec.flag} is required")
                values[spec.name] = spec.default
            else:
                values[spec.name] = spec.parse(spec.flag, str(given))
        return cls(**values)

    @classmethod
    def from_argv(
        cls: type[R],
        argv: Sequence[str],
        *,
        group: str | None = None,
        where: str = "",
        given: Mapping[str, Any] | None = None,
    ) -> R:
        """A request from ``--flag VALUE`` / ``--flag=VALUE`` words (a runbook step's args),
        over the raw values ``given``; the last of a flag given twice wins, a repeatable one
        accumulates. ``group``: only the flags of that surface are known. Unknown flags and
        missing values: InputError naming them (after ``where``)."""
        by_flag = {
            f.flag: f
            for f in cls.flags()
            if not f.positional and (group is None or group in f.groups)
        }
        raw: dict[str, Any] = dict(given or {})
        lead = f"{where}: " if where else ""
        words = list(argv)
        i = 0
        while i < len(words):
            flag, sep, value = words[i].partition("=")
            spec = by_flag.get(flag)
            if spec is None:
                raise InputError(f"{lead}unknown flag {words[i]!r} (known: {', '.join(by_flag)})")
            if spec.switch and not sep:
                raw[spec.name] = True
            else:
                if not sep:
                    if i + 1 >= len(words):
                        raise InputError(f"{lead}{flag} needs a value")
                    i += 1
                    value = words[i]
                if spec.repeatable:
                    raw[spec.name] = [*raw.get(spec.name, ()), value]
                else:
                    raw[spec.name] = value
            i += 1
        return cls.parse(raw)


def _dashed(field_name: str) -> str:
    return field_name.strip("_").replace("_", "-")


def flags_in(request: type[Request], group: str) -> tuple[Flag, ...]:
    """The flags of ``request`` that the surface ``group`` takes too."""
    return tuple(f for f in request.flags() if group in f.groups)
