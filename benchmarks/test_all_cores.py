"""Smoke test of benchmarks/all_cores.py and benchmarks/scaling_model.py.

The benchmark itself is a script (its figures come from a full run, not from
here): this runs ``all_cores.py --quick`` for fastmlp and scikit-learn only,
in every thread mode, so that the script cannot rot unnoticed, and checks
that its JSON says what the tables and the scaling model read from it. The
other libraries (PyTorch, JAX) are benchmark-only dependencies: a missing
one is left out with its reason, which is checked on a library made missing.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

import all_cores
import all_cores_fits
import all_cores_table
import scaling_model

SCRIPT = Path(__file__).with_name("all_cores.py")
LIBS = ("fastmlp", "sklearn")
MODES = ("defaults", "1 thread", "N threads")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("all_cores") / "quick.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--libraries",
                           ",".join(LIBS), "--json", str(path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(path) as f:
        return json.load(f), done.stdout


def test_machine_and_versions_are_recorded(quick_run):
    result, _ = quick_run
    m = result["machine"]
    assert m["nproc"] == len(m["affinity"]) >= 1
    assert set(m["flags"]) == {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}
    assert all(isinstance(v, bool) for v in m["flags"].values())
    assert m["memory_total_gib"] > 0
    assert result["versions"]["fastmlp"] and result["versions"]["scikit-learn"]
    assert isinstance(result["fastmlp"]["mlp_accepts_n_threads"], bool)


def test_every_library_workload_and_mode_is_timed(quick_run):
    result, _ = quick_run
    keys = {(t["library"], t["workload"], t["mode"]) for t in result["timings"]}
    assert keys == {(lib, w, m) for lib in LIBS for w in all_cores_fits.WORKLOADS
                    for m in MODES}
    nproc = result["machine"]["nproc"]
    for t in result["timings"]:
        assert 0 < t["min"] <= t["median"]
        assert len(t["per_run"]) >= result["rounds"] == 1
        assert len(t["other_cores_per_run"]) == len(t["per_run"])
        assert 0 <= t["quiet_runs"] <= len(t["per_run"])
        assert t["threads"] == {"defaults": None, "1 thread": 1, "N threads": nproc}[t["mode"]]
        if t["workload"] == "digits":
            # Trained, not just run: chance is 0.1 (the quick synthetic fits
            # are too short to be far above it).
            assert t["train_accuracy"] > 0.5


def test_one_thread_mode_is_pinned_and_limited(quick_run):
    result, _ = quick_run
    first = result["machine"]["affinity"][:1]
    for t in result["timings"]:
        if t["mode"] != "1 thread":
            continue
        assert t["pinned_cpus"] == first
        blas = [p for p in t["pools"] if p["user_api"] == "blas"]
        assert blas and all(p["num_threads"] == 1 for p in blas)
        assert all(p["internal_api"] and "architecture" in p for p in blas)


def test_ratios_are_peer_over_fastmlp(quick_run):
    result, _ = quick_run
    best = {(t["library"], t["workload"], t["mode"]): t["min"] for t in result["timings"]}
    assert len(result["ratios"]) == len(all_cores_fits.WORKLOADS) * len(MODES)
    for r in result["ratios"]:
        assert (r["peer"], r["baseline"]) == ("sklearn", "fastmlp")
        assert r["ratio_min"] == pytest.approx(best["sklearn", r["workload"], r["mode"]]
                                               / best["fastmlp", r["workload"], r["mode"]])


def test_ceiling_is_two_alone_over_pair(quick_run):
    result, _ = quick_run
    c = result["ceiling"]
    if result["machine"]["nproc"] < 2:
        assert "skipped" in c
        return
    assert c["ceiling"] == pytest.approx(2 * c["t_alone"] / c["t_pair_wall"])
    assert c["t_alone"] > 0 and c["t_pair_wall"] > 0


def test_tables_have_a_table_per_mode_and_a_row_per_workload(quick_run):
    result, printed = quick_run
    text = all_cores_table.tables(result)
    assert text in printed
    for mode in MODES:
        assert f"### {mode}" in text
    assert sum(line.startswith(("| digits", "| medium", "| wide"))
               for line in text.splitlines()) == 3 * len(MODES)
    assert "scikit-learn / fastmlp f32" in text


def test_child_environment_drops_openblas_pins_and_sets_one_thread(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "512")
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    one = all_cores.child_env(1)
    assert "OPENBLAS_CORETYPE" not in one and "OPENBLAS_L2_SIZE" not in one
    assert one["OMP_NUM_THREADS"] == one["OPENBLAS_NUM_THREADS"] == "1"
    assert "--xla_cpu_multi_thread_eigen=false" in one["XLA_FLAGS"]
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    defaults = all_cores.child_env(None)
    assert "OMP_NUM_THREADS" not in defaults and "OPENBLAS_CORETYPE" not in defaults
    assert all_cores.child_env(4)["MKL_NUM_THREADS"] == "4"


def test_missing_library_is_skipped_with_its_reason(monkeypatch):
    lib = all_cores_fits.LIBRARIES["torch"]
    monkeypatch.setitem(all_cores_fits.LIBRARIES, "torch",
                        all_cores_fits.Library(lib.name, lib.label, "no_such_module_here",
                                               lib.prepare, lib.version))
    said = []
    ok, skipped = all_cores.available_libraries(["fastmlp", "torch"], said.append)
    assert ok == ["fastmlp"]
    assert skipped == {"torch": "no_such_module_here is not installed"}
    assert said == ["skipping PyTorch f32: no_such_module_here is not installed"]


def test_serial_fraction_and_its_ceiling_correction():
    assert scaling_model.serial_fraction(2.0) == 0.0
    assert scaling_model.serial_fraction(1.0) == 1.0
    assert scaling_model.serial_fraction(1.6) == pytest.approx(0.25)
    # f = 0.2 on a machine whose two busy cores give 1.6: S2 = 1 / (0.2 + 0.8 / 1.6).
    s2 = 1 / (0.2 + 0.8 / 1.6)
    assert scaling_model.serial_fraction(s2, 1.6) == pytest.approx(0.2)
    assert scaling_model.serial_fraction(s2) > 0.2    # uncorrected: looks more serial
    assert scaling_model.serial_fraction(1.5, 1.4) == 0.0  # beat the ceiling: clipped
    assert scaling_model.serial_fraction(1.5, 1.0) is None
    assert scaling_model.speedup(0.1, 64) == pytest.approx(1 / (0.1 + 0.9 / 64))


def test_scaling_model_reads_one_and_two_thread_times():
    timings = [{"library": "fastmlp", "workload": w, "mode": mode, "threads": n, "min": t}
               for w, t1 in (("medium", 1.0), ("wide", 4.0))
               for mode, n, t in (("1 thread", 1, t1), ("N threads", 2, t1 / 1.6),
                                  ("defaults", None, t1))]
    times = scaling_model.times_from_result({"timings": timings})
    assert times == {("fastmlp", "medium"): (1.0, 1 / 1.6), ("fastmlp", "wide"): (4.0, 2.5)}
    row = scaling_model.model_row("fastmlp", "wide", 4.0, 2.5, 1.8)
    assert row["s2"] == pytest.approx(1.6)
    assert row["f_raw"] == pytest.approx(0.25)
    assert row["f_corrected"] == pytest.approx((1.8 / 1.6 - 1) / 0.8)
    p64 = row["predicted"]["64"]
    assert p64["ideal_cores"] > p64["cores_like_these"] and p64["ideal_cores"] > p64["raw"]


def test_summary_leaves_out_runs_disturbed_by_other_processes():
    quiet_ones = all_cores.summary([1.0, 0.5, 2.0], [0.0, 0.9, 0.1])
    assert quiet_ones == {"min": 1.0, "median": 1.5, "quiet_runs": 2}
    # Every run disturbed: all of them, and none counted quiet.
    assert all_cores.summary([1.0, 0.5], [0.9, 0.8]) == {"min": 0.5, "median": 0.75,
                                                         "quiet_runs": 0}


def test_rescore_recomputes_minima_and_ratios_and_the_table_marks_disturbed(quick_run):
    result = json.loads(json.dumps(quick_run[0]))
    fast = next(t for t in result["timings"] if t["library"] == "fastmlp"
                and t["workload"] == "wide" and t["mode"] == "1 thread")
    fast["per_run"], fast["other_cores_per_run"] = [9.0, 3.0], [0.0, 1.0]
    all_cores.rescore(result)
    assert (fast["min"], fast["quiet_runs"]) == (9.0, 1)
    sk = next(t for t in result["timings"] if t["library"] == "sklearn"
              and t["workload"] == "wide" and t["mode"] == "1 thread")
    r = next(r for r in result["ratios"] if r["workload"] == "wide"
             and r["mode"] == "1 thread")
    assert r["ratio_min"] == pytest.approx(sk["min"] / 9.0)
    fast["other_cores_per_run"] = [1.0, 1.0]
    all_cores.rescore(result)
    assert fast["min"] == 3.0 and fast["quiet_runs"] == 0
    assert "| wide | 3.000* |" in all_cores_table.tables(result)


def test_scaling_model_runs_on_the_quick_json(quick_run, tmp_path, capsys):
    result, _ = quick_run
    source, out = tmp_path / "in.json", tmp_path / "out.json"
    source.write_text(json.dumps(result))
    if result["machine"]["nproc"] != 2:
        # The model needs an explicit 2-thread mode: N threads is that only on 2 cores.
        with pytest.raises(SystemExit):
            scaling_model.main(["--from", str(source)])
        return
    model = scaling_model.main(["--from", str(source), "--json", str(out)])
    assert {(r["library"], r["workload"]) for r in model["rows"]} == {
        ("fastmlp", "medium"), ("fastmlp", "wide")}
    assert json.loads(out.read_text())["ceiling"] == result["ceiling"]["ceiling"]
    assert "| fastmlp | wide |" in capsys.readouterr().out
