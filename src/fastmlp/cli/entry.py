"""``main``: the entry point of the ``fastmlp`` command, which picks the job.

A first argument that names a command runs that command; no argument, or
options only, run the digits job (``demo``), so that ``python -m fastmlp``
keeps working as the package's main job with its own options.
"""
import sys

from .commands import run_command
from .demo import _main_job
from .parser import COMMANDS
from .status import print_error, run_job


def main(argv=None, prog="fastmlp"):
    """Entry point of the ``fastmlp`` command; returns the exit status."""
    if argv is None:
        argv = sys.argv[1:]
    argv = list(argv)
    if argv and argv[0] in COMMANDS:
        return run_job(run_command, prog, argv[0], argv[1:])
    if argv and not argv[0].startswith("-"):
        print_error(f"unknown command {argv[0]!r} (commands: {', '.join(COMMANDS)}; with no "
                    f"command, options like --epochs run the digits job; see '{prog} --help')")
        return 2
    return _main_job(argv, prog)
