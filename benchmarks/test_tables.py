"""Smoke test of the table benchmarks: benchmarks/cli_defaults.py (the
command line's defaults against scikit-learn's MLP on small tables) and
benchmarks/csv_read.py (reading a large CSV file against pandas alone).

Their figures come from full runs (docs/tabular.md); this runs each on the
smallest input so that neither can rot unnoticed, and checks what they
report could be read: a score per data set, and a time and peak memory per
reader."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent

pytest.importorskip("pandas")
pytest.importorskip("sklearn")


def test_cli_defaults_scores_the_command_and_scikit_learn_on_the_same_rows(tmp_path):
    out = tmp_path / "r.json"
    done = subprocess.run([sys.executable, str(HERE / "cli_defaults.py"), "--seeds", "1",
                           "--sets", "iris", "--json", str(out), "--", "--epochs", "3"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    assert result["train_options"] == ["--epochs", "3"]
    (iris,) = result["results"]
    assert (iris["name"], iris["rows"], iris["metric"]) == ("iris", 150, "accuracy")
    (run,) = iris["runs"]
    assert run["seed"] == 0 and run["cli_epochs"] == 3
    assert 0 <= run["cli"] <= 1 and 0 <= run["sklearn"] <= 1
    assert any(line.startswith("iris") for line in done.stdout.splitlines())


def test_csv_read_times_every_reader(tmp_path):
    done = subprocess.run([sys.executable, str(HERE / "csv_read.py"), "--rows", "2000",
                           "--columns", "5", "--rounds", "1"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    for row in ("pandas c", "fastmlp prepare", "fastmlp train"):
        line = next(l for l in done.stdout.splitlines() if l.startswith(row))
        wall, inner_or_dash, peak = line[len(row):].split()[:3]
        assert float(wall) > 0 and float(peak) > 0
