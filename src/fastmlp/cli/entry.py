"""``main``: the entry point of the ``fastmlp`` command, which picks the job.

A first argument that names a command runs that command; no argument, or
options only, run the digits job (``demo``), so that ``python -m fastmlp``
keeps working as the package's main job with its own options. Whichever
job runs, ``status.run_job`` turns its outcome into the exit status.
"""
import sys

from .commands import run_command
from .demo import _main_job
from .parser import COMMANDS
from .status import CLIError, run_job


def main(argv=None, prog="fastmlp"):
    """Entry point of the ``fastmlp`` command; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    return run_job(_dispatch, argv, prog)


def _dispatch(argv, prog):
    if argv and argv[0] in COMMANDS:
        return run_command(prog, argv[0], argv[1:])
    if argv and not argv[0].startswith("-"):
        raise CLIError(f"unknown command {argv[0]!r} (commands: {', '.join(COMMANDS)}; with "
                       f"no command, options like --epochs run the digits job; see "
                       f"'{prog} --help')")
    return _main_job(argv, prog)
