"""The exit-status rule of the command line (fastmlp.cli.status.run_job),
the same for every command and for the digits job: 0 success; 2 bad file,
argument, data or model (one line on stderr); 1 training diverged; 130
interrupted; a closed output pipe stops quietly. Mostly in process, through
``fastmlp.cli.main``."""
import subprocess
import sys
import threading

import numpy as np
import pytest

import fastmlp
from fastmlp import cli
from fastmlp.cli import demo, status


def one_error_line(capsys):
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("fastmlp: error: "), lines[0]
    return lines[0]


def _raise(exc):
    def job(*args):
        raise exc
    return job


@pytest.mark.parametrize("exc, expected_status, text", [
    (status.CLIError("bad.csv: no data rows"), 2, "bad.csv: no data rows"),
    (status.CLIError("stopped", status=130), 130, "stopped"),
    (ValueError("layer sizes must be\npositive"), 2, "layer sizes must be positive"),
    (TypeError("seed must be an int"), 2, "seed must be an int"),
    (FileNotFoundError(2, "No such file or directory", "gone.npz"), 2,
     "gone.npz: No such file or directory"),
    (fastmlp.DivergenceError("epoch 3: lower the learning rate", epoch=3), 1,
     "training diverged: epoch 3: lower the learning rate"),
    (FloatingPointError("overflow in exp"), 1, "overflow in exp"),
    (KeyboardInterrupt(), 130, "interrupted"),
])
def test_run_job_maps_each_failure_to_its_status(capsys, exc, expected_status, text):
    assert status.run_job(_raise(exc)) == expected_status
    assert text in one_error_line(capsys)


def test_run_job_passes_a_status_through(capsys):
    assert status.run_job(lambda a, b: a + b, 1, 2) == 3
    assert status.run_job(lambda: None) == 0
    assert capsys.readouterr().err == ""


def test_run_job_lets_other_exceptions_through():
    # A bug is a traceback, not a status: RuntimeError is no user error.
    with pytest.raises(RuntimeError):
        status.run_job(_raise(RuntimeError("bug")))


# -- under mpiexec: one line for the job, not one per rank --------------------------

@pytest.fixture
def rank_of(monkeypatch):
    """Make this process rank r of 2 as mpiexec's Hydra says (MPI not started)."""
    from fastmlp.cli import distributed
    monkeypatch.setattr(distributed, "_running_mpi", lambda: None)
    monkeypatch.setenv("PMI_SIZE", "2")

    def rank(r):
        monkeypatch.setenv("PMI_RANK", str(r))
    return rank


@pytest.mark.parametrize("exc, expected_status", [
    (status.CLIError("unrecognized arguments: --bogus"), 2),
    (status.CLIError("rank 1: d.npy, row 31, column 2 (0-based): 1e+39 is too large"), 2),
    (ValueError("invalid model"), 2),
    (fastmlp.DivergenceError("epoch 3: lower the learning rate"), 1),
])
def test_under_mpiexec_rank_0_alone_prints_an_error_of_the_job(capsys, rank_of, exc,
                                                               expected_status):
    rank_of(1)
    assert status.run_job(_raise(exc)) == expected_status
    assert capsys.readouterr().err == ""
    rank_of(0)
    assert status.run_job(_raise(exc)) == expected_status
    line = one_error_line(capsys)
    assert line.endswith(str(exc)) and not line.startswith("fastmlp: error: rank 0")


@pytest.mark.parametrize("exc", [KeyboardInterrupt(),
                                 status.CLIError("interrupted after 3 epochs", status=130)])
def test_under_mpiexec_each_rank_prints_its_interruption_naming_itself(capsys, rank_of, exc):
    for r in (1, 0):
        rank_of(r)
        assert status.run_job(_raise(exc)) == 130
        assert one_error_line(capsys).startswith(f"fastmlp: error: rank {r}: interrupted")


class _TwoRanks:
    """A communicator of two ranks, each a thread of this process: enough of
    one for RankRows' agreement (allgather)."""

    def __init__(self):
        self.values = [None, None]
        self.barrier = threading.Barrier(2, timeout=30)

    def rank(self, r):
        world = self

        class Comm:
            def allgather(self, value):
                world.values[r] = value
                world.barrier.wait()
                gathered = list(world.values)
                world.barrier.wait()
                return gathered
        return Comm()


def on_two_ranks(method, calls):
    """RankRows.<method>(calls[r]) on ranks 0 and 1; each rank's CLIError
    (or None)."""
    from fastmlp.cli import distributed
    world, raised = _TwoRanks(), [None, None]

    def rank(r):
        rows = object.__new__(distributed.RankRows)
        rows.comm, rows.rank, rows.size, rows.root = world.rank(r), r, 2, r == 0
        try:
            getattr(rows, method)(calls[r])
        except status.CLIError as exc:
            raised[r] = exc

    threads = [threading.Thread(target=rank, args=(r,)) for r in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return raised


def _fails(exc):
    def call():
        raise exc
    return call


def _same_on_both(raised):
    assert None not in raised
    assert str(raised[0]) == str(raised[1]) and raised[0].status == raised[1].status
    return str(raised[0]), raised[0].status


@pytest.mark.parametrize("exc, text", [
    (status.CLIError("d.npy, row 31: not finite"), "rank 1: d.npy, row 31: not finite"),
    (ValueError("cannot convert"), "rank 1: cannot convert"),
    (FileNotFoundError(2, "No such file or directory", "d.npy"),
     "rank 1: d.npy: No such file or directory"),
])
def test_an_error_of_one_ranks_rows_is_raised_on_every_rank_naming_it(exc, text):
    raised = on_two_ranks("collective", [lambda: None, _fails(exc)])
    assert _same_on_both(raised) == (text, 2)


def test_an_error_every_rank_meets_alike_names_no_rank():
    exc = status.CLIError("--classes applies to cross_entropy", status=3)
    raised = on_two_ranks("collective", [_fails(exc), _fails(exc)])
    assert _same_on_both(raised) == ("--classes applies to cross_entropy", 3)


def test_an_error_on_root_names_no_rank():
    save = _fails(status.CLIError("--save m.npz: cannot write"))
    raised = on_two_ranks("on_root", [save, save])
    assert _same_on_both(raised) == ("--save m.npz: cannot write", 2)


# -- the digits job follows the same rule as the commands -------------------------

@pytest.mark.parametrize("exc, expected_status", [
    (ValueError("bad data"), 2),          # was 1 before the rule was shared
    (OSError(13, "Permission denied", "digits.npz"), 2),
    (fastmlp.DivergenceError("lower the learning rate"), 1),
    (KeyboardInterrupt(), 130),
])
def test_main_job_errors_use_the_rule(monkeypatch, capsys, exc, expected_status):
    monkeypatch.setattr(demo, "run", _raise(exc))
    assert cli.main(["--epochs", "1"]) == expected_status
    one_error_line(capsys)


def test_main_job_bad_option_is_one_line_exit_2(capsys):
    assert cli.main(["--lr", "0"], prog="python -m fastmlp") == 2
    line = one_error_line(capsys)
    assert "--lr" in line and "see 'python -m fastmlp --help'" in line


def test_main_job_divergence_is_exit_1(capsys):
    # lr 1e20 makes the first steps' objective overflow on the digits.
    assert cli.main(["--lr", "1e20", "--epochs", "1", "--repeats", "1"]) == 1
    line = one_error_line(capsys)
    assert "training diverged" in line and "lower the learning rate" in line


def test_unknown_command_is_exit_2(capsys):
    assert cli.main(["trian"]) == 2
    assert "unknown command 'trian'" in one_error_line(capsys)


def test_every_help_states_the_rule(capsys):
    for argv in ([], ["train"], ["predict"], ["bench"]):
        with pytest.raises(SystemExit) as stop:
            cli.main(argv + ["--help"])
        assert stop.value.code == 0
        out = " ".join(capsys.readouterr().out.split())
        assert status.EXIT_STATUS_HELP in out, (argv, out)


def test_closed_output_pipe_stops_quietly(tmp_path):
    # The reader of the predictions is gone before the first line is
    # written (as after | head): the command must end with 1, silently.
    fastmlp.MLP([2, 1], loss="mse", seed=0).save(tmp_path / "m.npz")
    np.save(tmp_path / "X.npy", np.random.default_rng(0).standard_normal((50, 2)))
    proc = subprocess.Popen([sys.executable, "-m", "fastmlp", "predict", "m.npz", "X.npy"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1
    assert err == ""
