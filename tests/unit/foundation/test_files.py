"""akops.files: an input file is read only if it is a regular file, and only up to its cap."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from akops import files
from akops.errors import InputError


def test_a_regular_file_reads(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("a: 1\n")
    assert files.read_text(path) == "a: 1\n"


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    os.mkfifo(path)
    with pytest.raises(InputError, match=r"p\.yaml: is a named pipe \(FIFO\), expected a regular"):
        files.read_text(path)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_a_device_is_refused_before_a_byte_is_read(tmp_path: Path, device: str) -> None:
    link = tmp_path / "z.yaml"
    link.symlink_to(device)
    with pytest.raises(InputError, match="is a character device"):
        files.read_bytes(link)


def test_a_socket_and_a_directory_are_refused(tmp_path: Path) -> None:
    sock = tmp_path / "s.yaml"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(sock))
    s.close()
    with pytest.raises(InputError, match="is a socket"):
        files.read_text(sock)
    with pytest.raises(InputError, match="is a directory"):
        files.read_text(tmp_path)
    with pytest.raises(InputError, match="is a socket"):
        files.check_regular(sock)


def test_the_cap_holds_on_size_and_on_what_is_read(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"x" * 101)
    with pytest.raises(InputError, match="larger than 100 bytes"):
        files.read_bytes(big, limit=100)
    assert files.read_bytes(big, limit=101) == b"x" * 101
    # /proc files claim size 0; the cap is enforced on the bytes read.
    with pytest.raises(InputError, match="larger than 10 bytes"):
        files.read_bytes("/proc/self/status", limit=10)


def test_a_budget_bounds_a_chain_as_a_whole(tmp_path: Path) -> None:
    a, b = tmp_path / "a.ini", tmp_path / "b.ini"
    a.write_bytes(b"a" * 60)
    b.write_bytes(b"b" * 60)
    budget = files.Budget(100)
    files.read_bytes(a, budget=budget, root="top.ini")
    with pytest.raises(InputError, match=r"files top\.ini includes hold more than 100 bytes"):
        files.read_bytes(b, budget=budget, root="top.ini")


def test_messages_name_the_flag_and_the_label(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^--plan plan\.json: no such file$"):
        files.read_text(tmp_path / "plan.json", flag="--plan", label="plan.json")
    (tmp_path / "bin").write_bytes(b"\xff\xfe")
    with pytest.raises(InputError, match="not UTF-8"):
        files.read_text(tmp_path / "bin")


def test_a_head_sniff_never_opens_a_special_file_for_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "p.yaml"
    os.mkfifo(fifo)
    assert files.read_head(fifo, 10) is None
    assert files.read_head("/dev/zero", 10) is None
    (tmp_path / "a").write_text("# chart: authentik 1\nrest")
    assert files.read_head(tmp_path / "a", 5) == b"# cha"
