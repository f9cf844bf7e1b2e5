"""``fastmlp bench`` in process (fastmlp.cli.bench.run_report through
fastmlp.cli.main), on the smallest config with one round so that it takes
well under a second: the load-average note, which some systems (Windows)
cannot give, the JSON file, and the performance targets, which only
benchmarks/report.py shows and checks."""
import importlib
import json
import os
import pathlib
import re
import sys

import pytest

from fastmlp import cli

BENCH = ["bench", "--configs", "tiny", "--repeat", "1"]


def run_bench(capsys, *extra):
    status = cli.main(BENCH + [str(a) for a in extra])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    out = captured.out
    assert re.search(r"^tiny\s+float32\s+\d", out, re.MULTILINE), out
    return out


def test_bench_without_getloadavg(monkeypatch, capsys, tmp_path):
    # As on Windows, where os has no getloadavg.
    monkeypatch.delattr(os, "getloadavg", raising=False)
    out = run_bench(capsys, "--json", tmp_path / "b.json")
    assert "load average" not in out
    assert re.search(r"^1 configs in \d+\.\d s$", out, re.MULTILINE), out
    payload = json.loads((tmp_path / "b.json").read_text())
    assert payload["load_average"] == {"start": None, "end": None}
    assert [r["config"] for r in payload["results"]] == ["tiny"]


def test_bench_when_getloadavg_fails(monkeypatch, capsys):
    def unobtainable():
        raise OSError("load average unobtainable")

    monkeypatch.setattr(os, "getloadavg", unobtainable, raising=False)
    assert "load average" not in run_bench(capsys)


def test_bench_notes_the_load_where_there_is_one(monkeypatch, capsys):
    monkeypatch.setattr(os, "getloadavg", lambda: (1.5, 1.0, 0.5), raising=False)
    out = run_bench(capsys)
    assert "load average at start 1.50" in out
    assert re.search(r"^1 configs in \d+\.\d s; load average at end 1.50$", out,
                     re.MULTILINE), out


@pytest.mark.parametrize("args, expected", [
    (["--configs", "tiny,nosuch"], "unknown config(s) ['nosuch']"),
    (["--repeat", "0"], "--repeat must be >= 1"),
])
def test_bench_bad_options_are_exit_2(capsys, args, expected):
    assert cli.main(["bench"] + args) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastmlp: error: ") and expected in err, err


# -- targets: the benchmark report's, not the installed command's ---------------------

BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"


def table_header(out):
    return next(line for line in out.splitlines() if line.startswith("config "))


def test_bench_shows_no_targets(capsys):
    out = run_bench(capsys)
    header = table_header(out)
    assert "floor us/step" in header and "fastmlp/floor" in header
    assert "target" not in header and " met" not in header
    assert "MISSED" not in out and "<= " not in out


def test_bench_has_no_strict_option(capsys):
    assert cli.main(BENCH + ["--strict"]) == 2
    assert "unrecognized arguments: --strict" in capsys.readouterr().err


@pytest.fixture
def report(monkeypatch):
    """benchmarks/report.py as a module, with benchmarks/ on sys.path as
    when it runs as a script (it imports targets.py from there)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    for name in ("report", "targets"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    yield importlib.import_module("report")
    for name in ("report", "targets"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize("bound, status, verdict", [(1e9, 0, "met"), (1e-9, 1, "MISSED")])
def test_report_judges_the_targets(report, monkeypatch, capsys, tmp_path, bound, status,
                                   verdict):
    import targets

    monkeypatch.setitem(targets.TARGETS, "tiny", targets.Target(us=bound))
    args = ["--configs", "tiny", "--repeat", "1", "--json", str(tmp_path / "r.json")]
    assert report.main(args) == 0                       # without --strict: always 0
    out = capsys.readouterr().out
    assert table_header(out).split()[-3:] == ["target", "met", "noise"]
    text = re.escape(f"<= {bound:g} us")
    assert re.search(rf"^tiny\s.*\s{text}\s+{verdict}\s", out, re.MULTILINE), out
    result = json.loads((tmp_path / "r.json").read_text())["results"][0]
    assert result["target"] == f"<= {bound:g} us"
    assert result["target_met"] is (verdict == "met")

    assert report.main(["--configs", "tiny", "--repeat", "1", "--strict"]) == status
    capsys.readouterr()


def test_report_ratio_target_and_configs_without_one(report, monkeypatch, capsys):
    import targets

    monkeypatch.setitem(targets.TARGETS, "tiny", targets.Target(ratio=1e6))
    monkeypatch.delitem(targets.TARGETS, "tiny64")
    assert report.main(["--configs", "tiny,tiny64", "--repeat", "1", "--strict"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^tiny\s.*\s<= 1e\+06x floor\s+met\s", out, re.MULTILINE), out
    assert re.search(r"^tiny64\s.*\s-\s+-\s+\d+\.\d%$", out, re.MULTILINE), out


def test_every_config_has_a_target():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_targets", BENCHMARKS / "targets.py")
    targets = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(targets)
    from fastmlp.cli import bench as _bench

    assert set(targets.TARGETS) == set(_bench.CONFIGS)
    with pytest.raises(ValueError):
        targets.Target()
    with pytest.raises(ValueError):
        targets.Target(us=1.0, ratio=1.0)
