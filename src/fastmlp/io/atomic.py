"""Replace a file atomically: ``atomic_write(path, write)``.

``write(f)`` is called on a new temporary file in the target's directory
(same file system, so the final rename cannot turn into a copy); the file is
then flushed and fsynced, renamed over the target with ``os.replace``, and
the directory is fsynced where the OS allows it, so that the rename itself
survives a crash.

Guarantees:

- All or nothing: readers of ``path`` see either the old file or the
  complete new one, never a partial write. If ``write``, the flush, the
  fsync or the rename fails (any exception, KeyboardInterrupt included),
  the old file is untouched, the temporary file is removed and the
  exception propagates.
- Through symlinks: a symlink at ``path`` is followed and the file it
  names is replaced; the link stays, as with ``open(path, "w")``.
- Usual mode: the new file gets 0666 masked by the umask, what a plain
  ``open`` would give it (not the 0600 of ``tempfile``).
- A missing directory raises FileNotFoundError before anything is written.
  An OSError of the file system (a missing or unwritable folder, a target
  that is a directory) keeps its type and errno but names ``path``, as the
  caller gave it, and the folder, never the hidden temporary file.

Not guaranteed: durability on file systems that ignore fsync, or of the
directory entry where directories cannot be fsynced (Windows).
"""
import os
import secrets


def _fsync_directory(directory):
    if os.name != "posix":
        return  # directories cannot be opened for fsync (Windows)
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems do not support fsync on a directory
    finally:
        os.close(fd)


def _create_temporary(directory, base):
    """A new file next to the target, created exclusively with mode 0666
    masked by the umask (what a plain open would give the target)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(directory, f".{base[:64]}.{secrets.token_hex(8)}.tmp")
        try:
            return tmp, os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file in {directory!r}")


def _folder_of(path, directory):
    """The folder of ``path`` as the caller wrote it, unless ``path`` is a
    symlink into another one (``directory``, where the file is written)."""
    given = os.path.dirname(path) or os.curdir
    return given if os.path.realpath(given) == directory else directory


def _about_target(exc, path, what):
    """``exc`` (an OSError) again, of its type and errno, naming ``path``
    instead of the temporary file, with ``what`` the failure meant."""
    if exc.errno is None:
        return exc
    return type(exc)(exc.errno, f"{exc.strerror} ({what})", path)


def atomic_write(path, write):
    """Call ``write(f)`` on a temporary binary file, then move it onto ``path``."""
    path = os.fsdecode(os.fspath(path))
    # Write through a symlink (to the file it names), as open() would.
    target = os.path.realpath(path)
    directory, base = os.path.split(target)
    try:
        tmp, fd = _create_temporary(directory, base)
    except OSError as exc:
        folder = _folder_of(path, directory)
        missing = isinstance(exc, FileNotFoundError) and not os.path.isdir(directory)
        what = (f"the folder {folder!r} does not exist" if missing
                else f"cannot create a file in the folder {folder!r}")
        raise _about_target(exc, path, what) from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise _about_target(exc, path, "cannot replace it with the new file") from None
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(directory)
