"""Running a script under ``mpiexec -n P python -m mpi4py`` from the tests
(and benchmarks/mpi_scaling.py), with the MPI settings for a small, shared
machine: SETTINGS, their one definition (``python tests/mpi_launch.py``
prints them as NAME=VALUE lines, for a shell: ``export $(python
tests/mpi_launch.py)``).

``unavailable()`` says why MPI jobs are not run here (None when they are):
the MPI tests skip with that reason. They run wherever the extra
``fastmlp[mpi]`` is installed: the main job of .ci/run and the tests on the
installed wheel (tools/build_wheels.sh). The one decided exception is the
sanitized run (tools/sanitize.sh, ASan preloaded into the interpreter): it
installs only ``fastmlp[test]`` and the MPI jobs skip there, because MPICH's
mpiexec and libmpi are not instrumented and every rank would need the ASan
runtime preloaded and its reports collected; the reduced step is therefore
not run under the sanitizers (its stages are the formed step's, which is).
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

# Values already set in the environment win.
SETTINGS = {
    # Hydra (MPICH's mpiexec) starts the ranks as local child processes
    # rather than through ssh.
    "HYDRA_LAUNCHER": "fork",
    # A rank waiting in a collective polls for progress; throttled, it
    # yields the core instead of spinning, which matters when ranks
    # outnumber cores (3 ranks on the 2 cores of the CI machine).
    "MPIR_CVAR_CH4_PROGRESS_THROTTLE": "1",
    # One BLAS thread per rank: the ranks are the parallelism.
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    # mpiexec ends the whole job after this many seconds, whatever happens
    # (run() sets it per job).
    "MPIEXEC_TIMEOUT": "120",
}


def settings():
    return dict(SETTINGS)


def mpiexec():
    """mpiexec next to this interpreter (the mpich wheel's), else on PATH."""
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def unavailable():
    if "libasan" in os.environ.get("LD_PRELOAD", ""):
        return ("sanitized run (ASan preloaded): MPI jobs are not run under the "
                "sanitizers (see tests/mpi_launch.py)")
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return 'mpi4py is not installed (pip install "fastmlp[mpi]")'
    if mpiexec() is None:
        return "no mpiexec next to the interpreter or on PATH"
    return None


def run(ranks, script, *args, timeout=120, extra_env=None, cwd=None):
    """Run script under mpiexec with `ranks` ranks (oversubscribed when
    they outnumber the cores: MPICH allows it); returns the CompletedProcess
    (text stdout and stderr). A job still running after `timeout` seconds
    is killed and raises subprocess.TimeoutExpired."""
    env = dict(os.environ)
    for name, value in SETTINGS.items():
        env.setdefault(name, value)
    env["MPIEXEC_TIMEOUT"] = str(int(timeout))
    env.update(extra_env or {})
    cmd = [mpiexec(), "-n", str(ranks), sys.executable, "-m", "mpi4py", str(script),
           *map(str, args)]
    # mpiexec's own timeout ends the ranks; the subprocess timeout a little
    # later is the backstop should mpiexec itself hang.
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout + 15, stdin=subprocess.DEVNULL)


if __name__ == "__main__":
    print("\n".join(f"{name}={value}" for name, value in SETTINGS.items()))
