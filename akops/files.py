"""Input files opened as what they claim to be: a regular file, of a bounded size.

Rule: the one place that opens a file an operator (or another tool) hands us: environment
files, runbooks, scenarios, kubeconfigs, secrets files, waiver files, saved plans, lint's
``--path`` files and every ``%include`` they pull in. A path is opened without blocking
(a named pipe would otherwise wait for a writer forever), ``fstat`` on the open descriptor
says what it is (so a symlink swapped between a check and the open changes nothing), and
anything but a regular file is refused before a byte is read: a FIFO, a character or block
device (``/dev/zero`` reads until memory runs out), a socket, a directory. A regular file
is read up to its cap and no further (``/proc`` files claim size 0: the cap is enforced on
what is read, not on what ``stat`` says). A ``Budget`` bounds a chain of files read on
behalf of one input (pgbouncer.ini's ``%include`` chain) as a whole.

Every refusal is one ``InputError`` naming the path (and the flag it came from, when given).
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from akops.errors import InputError

#: Bytes one input file may hold. The largest real inputs are lint trees' single files of
#: tens of thousands of documents (~30 MB); nothing an operator writes by hand comes near.
MAX_FILE_BYTES = 64 * 1024 * 1024
#: Bytes a whole ``%include`` chain (the including file and everything it pulls in) may hold.
MAX_CHAIN_BYTES = 64 * 1024 * 1024

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def kind_of(mode: int) -> str:
    """What a file of ``mode`` is, in words ("a named pipe (FIFO)")."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "not a regular file"


@dataclass
class Budget:
    """Bytes left for a chain of files read on behalf of one input."""

    limit: int = MAX_CHAIN_BYTES
    used: int = field(default=0)

    def take(self, size: int, shown: str, root: str) -> None:
        self.used += size
        if self.used > self.limit:
            raise InputError(
                f"{shown}: the files {root} includes hold more than {_mib(self.limit)} "
                "together; refusing"
            )

    @property
    def left(self) -> int:
        return max(0, self.limit - self.used)


def _mib(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 else f"{n} bytes"


def _label(path: Path | str, flag: str | None, label: str | None = None) -> str:
    shown = label or str(path)
    return f"{flag} {shown}" if flag else shown


def check_regular(
    path: Path | str, *, flag: str | None = None, label: str | None = None
) -> os.stat_result:
    """``stat`` of ``path`` (symlinks followed) if it is a regular file, else one InputError.

    Messages name ``label`` (how the operator knows the file; default: the path), after
    ``flag`` when the path came from one."""
    shown = _label(path, flag, label)
    try:
        st = os.stat(path)
    except FileNotFoundError as e:
        raise InputError(f"{shown}: no such file") from e
    except OSError as e:
        raise InputError(f"{shown}: cannot read: {_why(e)}") from e
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{shown}: is {kind_of(st.st_mode)}, expected a regular file")
    return st


def read_bytes(
    path: Path | str,
    *,
    flag: str | None = None,
    label: str | None = None,
    limit: int = MAX_FILE_BYTES,
    budget: Budget | None = None,
    root: str = "",
) -> bytes:
    """The bytes of regular file ``path``, at most ``limit`` of them (and what ``budget`` has left)."""
    shown = _label(path, flag, label)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOCTTY: a terminal device
        # must not become our controlling terminal. Neither changes how a regular file reads.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError as e:
        raise InputError(f"{shown}: no such file") from e
    except OSError as e:
        if e.errno == errno.ENXIO:  # a socket file cannot be opened at all
            raise InputError(f"{shown}: is a socket, expected a regular file") from e
        raise InputError(f"{shown}: cannot read: {_why(e)}") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{shown}: is {kind_of(st.st_mode)}, expected a regular file")
        cap = limit if budget is None else min(limit, budget.left)
        if st.st_size > cap:
            _too_big(shown, st.st_size, limit, budget, root)
        chunks: list[bytes] = []
        got = 0
        while True:
            chunk = os.read(fd, min(1 << 20, cap + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
            if got > cap:
                _too_big(shown, got, limit, budget, root)
        data = b"".join(chunks)
    except OSError as e:
        raise InputError(f"{shown}: cannot read: {_why(e)}") from e
    finally:
        os.close(fd)
    if budget is not None:
        budget.take(len(data), shown, root or shown)
    return data


def _too_big(shown: str, size: int, limit: int, budget: Budget | None, root: str) -> None:
    if size <= limit and budget is not None:
        raise InputError(
            f"{shown}: the files {root or shown} includes hold more than {_mib(budget.limit)} "
            "together; refusing"
        )
    raise InputError(f"{shown}: larger than {_mib(limit)}; refusing to read it")


def read_text(
    path: Path | str,
    *,
    flag: str | None = None,
    label: str | None = None,
    limit: int = MAX_FILE_BYTES,
    budget: Budget | None = None,
    root: str = "",
) -> str:
    """``read_bytes`` decoded as UTF-8; text that is not is one InputError naming the path."""
    data = read_bytes(path, flag=flag, label=label, limit=limit, budget=budget, root=root)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{_label(path, flag, label)}: not UTF-8 text") from e


def output_file(flag: str, value: str | None, *, parents: bool = False) -> Path | None:
    """Where ``--flag FILE`` will be written, checked before anything runs: not a
    directory, not a special file (a FIFO would block the write), in a directory that exists
    or, with ``parents``, will be made (None for an empty flag)."""
    if not value:
        return None
    path = Path(value)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise InputError(f"{flag} {value}: cannot write: {_why(e)}") from e
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise InputError(f"{flag} {value}: is {kind_of(st.st_mode)}, expected a file to write")
    parent = path.parent
    if not parent.is_dir() and not (parents and not parent.exists()):
        raise InputError(f"{flag} {value}: no directory {parent} to write it in")
    return path.resolve()


def output_dir(flag: str, value: str) -> Path | None:
    """Where ``--flag DIR`` will be written (created when missing), checked before anything
    runs: not an existing file (None for an empty flag)."""
    if not value:
        return None
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise InputError(f"{flag} {value}: exists and is not a directory")
    return path.resolve()


def read_head(path: Path | str, size: int) -> bytes | None:
    """The first ``size`` bytes of ``path`` if it is a regular file; None for anything else
    (a sniff before the real read, which then says what is wrong, in its place)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, size)
    except OSError:
        return None
    finally:
        os.close(fd)


def _why(e: OSError) -> str:
    if e.errno == errno.ELOOP:
        return "too many levels of symbolic links"
    return e.strerror or type(e).__name__
