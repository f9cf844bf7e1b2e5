"""fastmlp.io.atomic.atomic_write: the target holds the old bytes or the new
ones, never a mixture, and no temporary file is left behind."""
import errno
import os

import pytest

from fastmlp.io import atomic as _atomic
from fastmlp.io.atomic import atomic_write


def _writer(data):
    return lambda f: f.write(data)


def test_writes_a_new_file_and_replaces_an_old_one(tmp_path):
    p = tmp_path / "f"
    atomic_write(str(p), _writer(b"first"))
    assert p.read_bytes() == b"first"
    atomic_write(str(p), _writer(b"second, longer"))
    assert p.read_bytes() == b"second, longer"
    assert os.listdir(tmp_path) == ["f"]


def test_the_temporary_file_is_beside_the_target_and_the_target_unchanged_meanwhile(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"old")
    seen = {}

    def write(f):
        f.write(b"new")
        f.flush()
        seen["listing"] = sorted(os.listdir(tmp_path))
        seen["target"] = p.read_bytes()

    atomic_write(str(p), write)
    (tmp,) = [n for n in seen["listing"] if n != "f"]
    assert tmp.startswith(".f.") and tmp.endswith(".tmp")
    assert seen["target"] == b"old"
    assert p.read_bytes() == b"new"


@pytest.mark.parametrize("error", [RuntimeError("writer failed"), KeyboardInterrupt()])
def test_writer_that_raises_leaves_the_old_file_intact(tmp_path, error):
    p = tmp_path / "f"
    p.write_bytes(b"old contents")

    def write(f):
        f.write(b"half")
        raise error

    with pytest.raises(type(error)):
        atomic_write(str(p), write)
    assert p.read_bytes() == b"old contents"
    assert os.listdir(tmp_path) == ["f"]


def test_writer_that_raises_creates_nothing_when_there_was_no_file(tmp_path):
    def write(f):
        raise ValueError("nothing to write")

    with pytest.raises(ValueError, match="nothing to write"):
        atomic_write(str(tmp_path / "f"), write)
    assert os.listdir(tmp_path) == []


def test_failed_fsync_leaves_the_old_file_intact(tmp_path, monkeypatch):
    p = tmp_path / "f"
    p.write_bytes(b"old")

    def failing_fsync(fd):
        raise OSError("device gone")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="device gone"):
        atomic_write(str(p), _writer(b"new"))
    monkeypatch.undo()
    assert p.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f"]


def test_unsupported_directory_fsync_is_not_an_error(tmp_path, monkeypatch):
    # Only the directory fsync may fail quietly: the data is already renamed.
    real_fsync = os.fsync
    calls = []

    def fsync(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError("not supported on this file system")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    atomic_write(str(tmp_path / "f"), _writer(b"data"))
    monkeypatch.undo()
    assert (tmp_path / "f").read_bytes() == b"data"
    assert len(calls) == (2 if os.name == "posix" else 1)


def test_temporary_name_collisions_are_retried(tmp_path, monkeypatch):
    tokens = iter(["aaaa", "aaaa", "bbbb"])
    monkeypatch.setattr(_atomic.secrets, "token_hex", lambda n: next(tokens))
    (tmp_path / ".f.aaaa.tmp").write_bytes(b"someone else's")
    atomic_write(str(tmp_path / "f"), _writer(b"mine"))
    assert (tmp_path / "f").read_bytes() == b"mine"
    assert (tmp_path / ".f.aaaa.tmp").read_bytes() == b"someone else's"
    assert sorted(os.listdir(tmp_path)) == [".f.aaaa.tmp", "f"]


def test_a_missing_folder_is_named_with_the_callers_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as info:
        atomic_write(os.path.join("no", "such", "m.npz"), _writer(b"x"))
    err = info.value
    assert err.errno == errno.ENOENT and err.filename == os.path.join("no", "such", "m.npz")
    assert repr(os.path.join("no", "such")) in str(err) and "does not exist" in str(err)
    assert ".tmp" not in str(err)
    assert os.listdir(tmp_path) == []


def test_a_folder_that_refuses_new_files_is_named_with_the_callers_path(tmp_path,
                                                                         monkeypatch):
    # Permission bits do not stop root, so the refusal is the system call's.
    real_open = os.open

    def refusing_open(name, flags, mode=0o777):
        if os.fspath(name).endswith(".tmp"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), name)
        return real_open(name, flags, mode)

    monkeypatch.setattr(os, "open", refusing_open)
    target = str(tmp_path / "m.npz")
    with pytest.raises(PermissionError) as info:
        atomic_write(target, _writer(b"x"))
    monkeypatch.undo()
    err = info.value
    assert err.errno == errno.EACCES and err.filename == target
    assert f"cannot create a file in the folder {str(tmp_path)!r}" in str(err)
    assert ".tmp" not in str(err)


def test_a_target_that_is_a_folder_is_named_and_nothing_is_left(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(OSError) as info:
        atomic_write(str(tmp_path / "d"), _writer(b"x"))
    err = info.value
    assert isinstance(err, IsADirectoryError) or os.name != "posix"
    assert err.filename == str(tmp_path / "d") and ".tmp" not in str(err)
    assert os.listdir(tmp_path) == ["d"]
