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


def run_job(job, *args):
    """Run ``job(*args)`` and return the exit status: what it returns (0 for
    None), or the status of the exception it raised, whose message is then
    printed as one line on stderr."""
    from fastmlp import DivergenceError

    try:
        status = job(*args)
    except CLIError as exc:
        print_error(exc)
        return exc.status
    except FloatingPointError as exc:
        # fastmlp.DivergenceError is one; its message says where and what to
        # do, others only what failed.
        print_error(f"training diverged: {exc}" if isinstance(exc, DivergenceError)
                    else exc)
        return DIVERGED
    except BrokenPipeError:
        # The reader of our output went away (| head): stop quietly, and keep
        # the interpreter's final flush from failing on the closed pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except (ValueError, TypeError) as exc:
        print_error(exc)
        return BAD_INPUT
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print_error(f"{where}{exc.strerror or exc}")
        return BAD_INPUT
    except KeyboardInterrupt:
        print_error("interrupted")
        return INTERRUPTED
    return OK if status is None else status
