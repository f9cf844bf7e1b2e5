"""Errors and exit statuses: the one place where an outcome becomes a status.

Every job of the command (the digits job and each command) runs through
``run_job``, so that one kind of failure gets one status and one kind of
message whichever job met it; the rule itself is stated in the package
docstring (``fastmlp.cli``) and, for ``--help``, in ``EXIT_STATUS_HELP``.
The code below the command layer (readers, models, kernels) raises what it
raises; the mapping is deliberately by exception type, not by where it was
raised, since a ValueError from ``fastmlp.MLP`` is as much bad input as one
from a reader.
"""
import os
import sys

OK = 0
DIVERGED = 1
BAD_INPUT = 2
INTERRUPTED = 130

EXIT_STATUS_HELP = ("Exit status: 0 on success; 2 for a bad file, argument or data, or a "
                    "model error (one line on stderr); 1 if training diverges; 130 if "
                    "interrupted.")


class CLIError(Exception):
    """An error reported as one line on stderr, with an exit status."""

    def __init__(self, message, status=BAD_INPUT):
        super().__init__(message)
        self.status = status


def one_line(text):
    return " ".join(str(text).split("\n")).strip()


def print_error(message):
    print(f"fastmlp: error: {one_line(message)}", file=sys.stderr, flush=True)


def describe(exc):
    """(message, exit status) of an error a job reports as one line (one of
    REPORTED)."""
    from fastmlp import DivergenceError

    if isinstance(exc, CLIError):
        return str(exc), exc.status
    if isinstance(exc, FloatingPointError):
        # fastmlp.DivergenceError is one; its message says where and what to
        # do, others only what failed.
        return (f"training diverged: {exc}" if isinstance(exc, DivergenceError)
                else str(exc)), DIVERGED
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}", BAD_INPUT
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", INTERRUPTED
    return str(exc), BAD_INPUT


# What a job's failure may be, reported as one line and a status (describe);
# anything else is a bug and keeps its traceback.
REPORTED = (CLIError, FloatingPointError, ValueError, TypeError, OSError, KeyboardInterrupt)


def _print_job_error(exc, message):
    from . import distributed  # here: it imports this module

    if distributed.launched():
        distributed.print_job_error(exc, message, print_error)
    else:
        print_error(message)


def run_job(job, *args):
    """Run ``job(*args)`` and return the exit status: what it returns (0 for
    None), or the status of the exception it raised, whose message is then
    printed as one line on stderr (once for all the ranks of mpiexec:
    distributed.print_job_error)."""
    try:
        status = job(*args)
    except BrokenPipeError:
        # The reader of our output went away (| head): stop quietly, and keep
        # the interpreter's final flush from failing on the closed pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except REPORTED as exc:
        message, status = describe(exc)
        _print_job_error(exc, message)
        return status
    return OK if status is None else status
