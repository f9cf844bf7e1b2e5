"""The exit-status rule of the command line (fastmlp.cli.status.run_job),
the same for every command and for the digits job: 0 success; 2 bad file,
argument, data or model (one line on stderr); 1 training diverged; 130
interrupted; a closed output pipe stops quietly. Mostly in process, through
``fastmlp.cli.main``."""
import subprocess
import sys

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
