#!/usr/bin/env bash
# Build fastmlp's kernels with AddressSanitizer + UndefinedBehaviorSanitizer
# and Cython bounds checks, and run the test suite on them.
#
#   bash tools/sanitize.sh       tests/, the benchmarks once each (untimed)
#                                and the main job (python -m fastmlp)
#   bash tools/sanitize.sh tests/test_kernels.py tests/test_training.py
#                                only pytest on these (paths under tests/ or
#                                benchmarks/, as in the repo, and pytest
#                                options written as one word: -kname, -x)
#
# Steps 1 and 2 are tools/sanitizer_common.sh's, shared with tools/tsan.sh.
# 1. Snapshot the checkout (files git tracks plus untracked, not ignored
#    ones) into build/sanitize/src, so no stale generated .c file or build/
#    directory of the working tree is reused.
# 2. Install it, with its test extra, into a fresh virtualenv
#    build/sanitize/venv with FASTMLP_SANITIZE=1 (setup.py adds
#    -fsanitize=address,undefined -fno-omit-frame-pointer
#    -fno-sanitize-recover=undefined -g to compile and link) and
#    FASTMLP_DEBUG_BOUNDS=1 (Cython boundscheck and initializedcheck on);
#    check that both compiled modules really are instrumented and
#    bounds-checked.
# 3. Check that the sanitizer runtimes report errors in this setup (a
#    deliberate heap overflow and a deliberate bad shift must be caught), so
#    a clean run means something.
# 4. Run everything from a directory where only the tests are importable, with
#    the ASan runtime preloaded (the interpreter is not instrumented),
#    ASAN_OPTIONS=detect_leaks=0 (CPython leaks at exit by design) and
#    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1. ASan reports go to
#    files in build/sanitize/reports (so those of the subprocesses some tests
#    start are caught too) and are printed at the end. UBSan reports go to
#    stderr (GCC's libubsan, loaded with the module rather than at start-up,
#    ignores log_path), which pytest leaves alone (--capture=sys), so they
#    reach the log even when halt_on_error kills the run; a subprocess that
#    halts on one exits non-zero and fails its test.
#    ASan cannot run under an address-space cap (RLIMIT_AS), which
#    tests/test_crash.py sets in its children: a sitecustomize.py put on
#    PYTHONPATH ignores such caps, and ASAN_OPTIONS
#    allocator_may_return_null=1:max_allocation_size_mb=4096 keeps an absurd
#    allocation failing with MemoryError instead.
#
# Fails if any run fails, if any report file appears, or if the output holds
# "ERROR: AddressSanitizer", "runtime error:" or a sanitizer SUMMARY line.
# Needs GCC with its libasan and libubsan, on Linux. PYTHON selects the
# interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
PYTHON="${PYTHON:-python3}"
WORK="$ROOT/build/sanitize"
SAN_NAME=sanitize
# shellcheck source=tools/sanitizer_common.sh
. tools/sanitizer_common.sh

for t in "$@"; do
    case "$t" in
        tests|tests/*|benchmarks|benchmarks/*)
            [ -e "${t%%::*}" ] || die "no such test path: $t" ;;
        -*) ;;  # a pytest option
        *) die "test paths must be under tests/ or benchmarks/: $t" ;;
    esac
done

fresh_work reports control
fresh_venv
ASAN_LIB="$(runtime_library asan)"
echo "ASan runtime: $ASAN_LIB"
install_snapshot -fsanitize=address,undefined FASTMLP_SANITIZE=1 FASTMLP_DEBUG_BOUNDS=1

# Both compiled modules: _train (the library's kernels) and _probes (the
# entry points only tests and benchmarks call).
for module in _train _probes; do
    SO="$(installed_module "$module")"
    undefined_syms="$(nm -D --undefined-only "$SO")"
    grep -q '__asan_report' <<<"$undefined_syms" || die "$SO is not instrumented by ASan"
    grep -q '__ubsan_handle' <<<"$undefined_syms" || die "$SO is not instrumented by UBSan"
    GENERATED_C="$WORK/src/src/fastmlp/_kernels/$module.c"
    grep -q 'Out of bounds on buffer access' "$GENERATED_C" \
        || die "$GENERATED_C was generated without Cython bounds checks"
    echo "instrumented: $SO (ASan, UBSan, Cython bounds checks)"
done

# Only the Python processes get the runtime (not grep, tee, ...). The C++
# runtime is preloaded with it: C++ extensions the tests import (matplotlib's
# ft2font) throw exceptions, and ASan's __cxa_throw interceptor aborts when
# libstdc++ was not loaded before it could resolve the real one.
STDCXX_LIB="$(runtime_library stdc++)"
preload="$ASAN_LIB $STDCXX_LIB${LD_PRELOAD:+ $LD_PRELOAD}"
asan_base="detect_leaks=0"
ubsan_base="print_stacktrace=1:halt_on_error=1"

# ASan reserves terabytes of address space for its shadow memory, so a
# process that caps its address space (RLIMIT_AS: tests/test_crash.py caps
# its children at 4 GiB) can allocate nothing more and dies in "Failed to
# mmap". A sitecustomize on PYTHONPATH, loaded by every Python process of
# the sanitized runs (the children inherit it), ignores RLIMIT_AS caps; ASan's
# own per-allocation limit stands in for them, so an absurd allocation still
# fails with MemoryError instead of taking the machine's memory.
mkdir -p "$WORK/shim"
cat > "$WORK/shim/sitecustomize.py" <<'EOF'
"""tools/sanitize.sh: RLIMIT_AS caps are ignored under ASan (see there)."""
import resource

_setrlimit = resource.setrlimit


def setrlimit(which, limits):
    if which == resource.RLIMIT_AS:
        return None
    return _setrlimit(which, limits)


resource.setrlimit = setrlimit
EOF
asan_base="$asan_base:allocator_may_return_null=1:max_allocation_size_mb=4096"
pythonpath="$WORK/shim${PYTHONPATH:+:$PYTHONPATH}"

step "controls: the runtimes must catch a deliberate heap overflow and a bad shift"
cat > "$WORK/control/bad_shift.c" <<'EOF'
int fm_control_shift(int x, int s) { return x << s; }
EOF
"$CC_BIN" -shared -fPIC -O1 -fsanitize=undefined -fno-sanitize-recover=undefined \
    -o "$WORK/control/libbad_shift.so" "$WORK/control/bad_shift.c"
run_control() {  # name, where the report must be (file|stderr), python code
    local name="$1" where="$2" code="$3" found
    if PYTHONPATH="$pythonpath" LD_PRELOAD="$preload" \
       ASAN_OPTIONS="$asan_base:log_path=$WORK/control/$name" \
       UBSAN_OPTIONS="$ubsan_base" \
       "$VPY" -c "$code" >/dev/null 2>"$WORK/control/$name.stderr"; then
        die "control '$name' exited 0: the sanitizer runtime does not report errors here"
    fi
    if [ "$where" = file ]; then
        rm "$WORK/control/$name.stderr"
    fi
    found="$(cat "$WORK/control/$name".* 2>/dev/null \
        | grep -oE 'ERROR: AddressSanitizer: [a-z-]+|runtime error: .*' | head -n1 || true)"
    [ -n "$found" ] || die "control '$name' left no sanitizer report in its $where"
    echo "control '$name': caught in its $where ($found)"
}
run_control heap_overflow file '
import ctypes
import fastmlp._kernels._probes  # both instrumented modules load under the preloaded runtime
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
p = libc.malloc(16)
ctypes.memset(p, 0, 17)
'
run_control bad_shift stderr "
import ctypes
ctypes.CDLL('$WORK/control/libbad_shift.so').fm_control_shift(1, 40)
"
if ! PYTHONPATH="$pythonpath" LD_PRELOAD="$preload" ASAN_OPTIONS="$asan_base" \
     UBSAN_OPTIONS="$ubsan_base" "$VPY" -c '
import resource
import numpy
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, resource.RLIM_INFINITY))
numpy.ones(10**7)
try:
    numpy.empty(1 << 40, dtype=numpy.uint8)
except MemoryError:
    pass
else:
    raise SystemExit("a 1 TiB allocation did not fail")
' >"$WORK/control/cap.log" 2>&1; then
    cat "$WORK/control/cap.log"
    die "the RLIMIT_AS shim or the ASan allocation limit does not work"
fi
echo "control 'cap': an RLIMIT_AS cap is ignored and a 1 TiB allocation raises MemoryError"

# The runs start in testrun/: the snapshot without src/ (tests import their
# conftest, each other and examples/; pyproject.toml holds the pytest
# settings), taken before the build, so fastmlp is importable only from the
# virtualenv.
: > "$WORK/run.log"
failed_runs=()
sanitized() {  # label, command...: run under the sanitizers from testrun/
    local label="$1" rc
    shift
    step "$label (sanitized)"
    set +e
    (
        cd "$WORK/testrun"
        PYTHONPATH="$pythonpath" LD_PRELOAD="$preload" \
        ASAN_OPTIONS="$asan_base:log_path=$WORK/reports/asan" \
        UBSAN_OPTIONS="$ubsan_base" "$@"
    ) 2>&1 | tee -a "$WORK/run.log"
    rc=${PIPESTATUS[0]}
    set -e
    [ "$rc" -eq 0 ] || failed_runs+=("$label (exit $rc)")
}
# An exception Cython cannot raise (a bounds-check failure inside a noexcept
# function is only printed, as "Exception ignored") fails the test.
PYTEST=("$VPY" -m pytest -ra -p no:cacheprovider --capture=sys
        -W error::pytest.PytestUnraisableExceptionWarning)
if [ $# -gt 0 ]; then
    sanitized "pytest $*" "${PYTEST[@]}" "$@"
else
    sanitized "pytest tests" "${PYTEST[@]}" tests
    sanitized "pytest benchmarks --benchmark-disable" "${PYTEST[@]}" benchmarks \
        --benchmark-disable -q
    sanitized "python -m fastmlp --epochs 3 --repeats 1" "$VPY" -m fastmlp --epochs 3 --repeats 1
fi

step "result"
failed=0
print_reports "$WORK/reports" || failed=1
if grep -qE 'ERROR: AddressSanitizer|runtime error:|SUMMARY: (Address|UndefinedBehavior)Sanitizer' \
        "$WORK/run.log"; then
    echo "sanitize: sanitizer output in the log (build/sanitize/run.log):"
    grep -E -A 30 'ERROR: AddressSanitizer|runtime error:' "$WORK/run.log" | head -n 200
    failed=1
fi
for r in ${failed_runs[@]+"${failed_runs[@]}"}; do
    echo "sanitize: failed: $r"
    failed=1
done
[ "$failed" -eq 0 ] || die "sanitized runs failed"
echo "sanitize: no sanitizer report; pytest:"
grep -E '^=* ?[0-9]+ (passed|failed).* in ' "$WORK/run.log" | tr -d '=' | sed 's/^/  /'
