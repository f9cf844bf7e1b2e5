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


def atomic_write(path, write):
    """Call ``write(f)`` on a temporary binary file, then move it onto ``path``."""
    # Write through a symlink (to the file it names), as open() would.
    target = os.path.realpath(path)
    directory, base = os.path.split(target)
    tmp, fd = _create_temporary(directory, base)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(directory)
