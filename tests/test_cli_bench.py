"""``fastmlp bench`` in process (fastmlp._bench.run_report through
fastmlp.cli.main), on the smallest config with one round so that it takes
well under a second: the load-average note, which some systems (Windows)
cannot give, and the JSON file."""
import json
import os
import re

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
