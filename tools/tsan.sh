#!/usr/bin/env bash
# Build fastmlp's kernels with ThreadSanitizer and run the threads of a fit
# (csrc/pool.c and the passes cut into blocks, _kernels/_threads.pxd) on
# them.
#
#   bash tools/tsan.sh
#
# 1. Snapshot the checkout into build/tsan/src and install it, with its test
#    extra, into a fresh virtualenv build/tsan/venv with
#    FASTMLP_SANITIZE=thread (setup.py adds -fsanitize=thread -g to compile
#    and link, at the release optimization level); check that the compiled
#    modules are instrumented (they call __tsan_* functions). These steps
#    are tools/sanitizer_common.sh's, shared with tools/sanitize.sh.
# 2. Controls, so that a clean run means something: ThreadSanitizer must
#    report a deliberate data race (a) between two threads of fastmlp's
#    pool, which each run a thread-init function of a control library that
#    bumps one counter unsynchronized (the report must show pool.c's
#    worker), and (b) inside the instrumented kernels, where two Python
#    threads run _train.forward on one shared workspace (the report must
#    show _train's frames).
# 3. Run tools/tsan_workload.py (every kind of threaded pass on pools of 2,
#    3 and 4 threads, each result compared with one thread's), then pytest
#    on tests/test_threads.py and tests/test_thread_identity.py: all of it
#    when fastmlp.MLP takes n_threads, else only its test that drives a
#    pool directly (test_passes_run_on_the_pool), as the others need that
#    parameter.
#
# The interpreter is not instrumented, so the runtime is preloaded
# (LD_PRELOAD=libtsan.so) into the Python processes only, with
# TSAN_OPTIONS halt_on_error=1 (the first report ends the run, non-zero)
# second_deadlock_stack=1 exitcode=66 history_size=7 and log_path under
# build/tsan/reports, so the reports of subprocesses are caught too.
#
# BLAS and OpenMP run one thread each (OPENBLAS_NUM_THREADS, MKL_NUM_THREADS,
# OMP_NUM_THREADS=1). Their own thread pools hand work over by spinning on
# plain memory in uninstrumented code, which ThreadSanitizer cannot see: with
# them every product's output, zeroed by an intercepted memset on a BLAS
# thread, is reported as racing with fastmlp's next read of it (some 180,000
# such reports over tests/test_threads.py, all inside OpenBLAS's hand-over,
# and a five times slower run). At one thread each product runs on the
# fastmlp thread that called it, so what it writes is checked against the
# pool's own ordering instead, and no suppressions file is needed.
# tests/test_threads.py's test of the BLAS thread count left by overlapping
# fits skips for that (it needs a count above one).
#
# Fails if a control is not caught, if any run fails, if any report file
# appears, or if the output holds "ThreadSanitizer". Needs GCC with its
# libtsan, on Linux. PYTHON selects the interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
PYTHON="${PYTHON:-python3}"
WORK="$ROOT/build/tsan"
SAN_NAME=tsan
# shellcheck source=tools/sanitizer_common.sh
. tools/sanitizer_common.sh

[ $# -eq 0 ] || die "no arguments: the workload and tests are fixed (see the header)"

fresh_work reports control
fresh_venv
TSAN_LIB="$(runtime_library tsan)"
echo "TSan runtime: $TSAN_LIB"
install_snapshot -fsanitize=thread FASTMLP_SANITIZE=thread

for module in _train _probes _rows; do
    SO="$(installed_module "$module")"
    undefined_syms="$(nm -D --undefined-only "$SO")"
    grep -q '__tsan_' <<<"$undefined_syms" || die "$SO is not instrumented by ThreadSanitizer"
    echo "instrumented: $SO"
done

export OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 OMP_NUM_THREADS=1
preload="$TSAN_LIB${LD_PRELOAD:+ $LD_PRELOAD}"
# history_size=7 (the most): the earlier access of a race keeps its stack
# (with the default a pool thread's often shows "failed to restore the
# stack").
tsan_base="halt_on_error=1:second_deadlock_stack=1:exitcode=66:history_size=7"

step "controls: deliberate data races must be reported"
cat > "$WORK/control/thread_init_race.c" <<'EOF'
/* Each thread of a pool runs this once, unsynchronized: a data race. */
static long started;
void fm_control_thread_init(int arg) { started += arg; }
EOF
"$CC_BIN" -shared -fPIC -O1 -g -fsanitize=thread \
    -o "$WORK/control/libthread_init_race.so" "$WORK/control/thread_init_race.c"
run_control() {  # name, what the report must show (regex), python code
    local name="$1" shows="$2" code="$3"
    if (cd "$WORK/testrun" && LD_PRELOAD="$preload" \
        TSAN_OPTIONS="$tsan_base:log_path=$WORK/control/$name" \
        "$VPY" -c "$code") >"$WORK/control/$name.out" 2>&1; then
        die "control '$name' exited 0: ThreadSanitizer does not report races here"
    fi
    grep -qs 'WARNING: ThreadSanitizer: data race' "$WORK/control/$name".[0-9]* \
        || die "control '$name' left no data race report (output: build/tsan/control/$name.out)"
    grep -qsE "$shows" "$WORK/control/$name".[0-9]* \
        || die "control '$name': the report does not show $shows"
    echo "control '$name': data race reported, showing $shows"
}
run_control pool_thread_init 'worker .*csrc/pool\.c' "
import ctypes
from fastmlp._kernels import _train
lib = ctypes.CDLL('$WORK/control/libthread_init_race.so')
_train.ThreadPool(3, ctypes.cast(lib.fm_control_thread_init, ctypes.c_void_p).value).close()
"
run_control shared_workspace '_train\.cpython' '
import threading
import numpy as np
import fastmlp
from fastmlp._kernels import _train
from fastmlp.inputs.sparse import input_rows

net = fastmlp.MLP([64, 128, 10], seed=1)
X = np.random.default_rng(0).standard_normal((512, 64)).astype(np.float32)
spec, work = net._kernels.workspace(512)    # one workspace for both threads
start = threading.Barrier(2)

def predict():
    out = np.empty((512, 10), dtype=np.float32)
    start.wait()
    for _ in range(20):
        _train.forward(spec, net.params, input_rows(X), work, out)

threads = [threading.Thread(target=predict) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
'

# The runs start in testrun/ (fastmlp importable only from the virtualenv).
: > "$WORK/run.log"
failed_runs=()
under_tsan() {  # command...: run it from testrun/ under ThreadSanitizer
    (
        cd "$WORK/testrun"
        LD_PRELOAD="$preload" TSAN_OPTIONS="$tsan_base:log_path=$WORK/reports/tsan" "$@"
    )
}
tsan_run() {  # label, command...: under_tsan, logged, its failure recorded
    local label="$1" rc
    shift
    step "$label (ThreadSanitizer)"
    set +e
    under_tsan "$@" 2>&1 | tee -a "$WORK/run.log"
    rc=${PIPESTATUS[0]}
    set -e
    [ "$rc" -eq 0 ] || failed_runs+=("$label (exit $rc)")
}

tsan_run "threaded workload" "$VPY" tools/tsan_workload.py

identity=(tests/test_thread_identity.py)
if ! under_tsan "$VPY" -c '
import inspect, sys, fastmlp
sys.exit("n_threads" not in inspect.signature(fastmlp.MLP).parameters)'; then
    echo "tsan: fastmlp.MLP takes no n_threads yet: of tests/test_thread_identity.py only" \
         "the test that drives a pool directly runs"
    identity=(tests/test_thread_identity.py::test_passes_run_on_the_pool)
fi
tsan_run "pytest" "$VPY" -m pytest -ra -p no:cacheprovider --capture=sys \
    tests/test_threads.py "${identity[@]}"

step "result"
failed=0
print_reports "$WORK/reports" || failed=1
if grep -q 'ThreadSanitizer' "$WORK/run.log"; then
    echo "tsan: ThreadSanitizer output in the log (build/tsan/run.log):"
    grep -A 40 'ThreadSanitizer' "$WORK/run.log" | head -n 200
    failed=1
fi
for r in ${failed_runs[@]+"${failed_runs[@]}"}; do
    echo "tsan: failed: $r"
    failed=1
done
[ "$failed" -eq 0 ] || die "ThreadSanitizer runs failed"
echo "tsan: no ThreadSanitizer report; workload and pytest:"
grep -E '^tsan workload: [0-9]+ passed|^=* ?[0-9]+ (passed|failed).* in ' "$WORK/run.log" \
    | tr -d '=' | sed 's/^/  /'
