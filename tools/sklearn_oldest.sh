#!/usr/bin/env bash
# fastmlp.sklearn's tests on the oldest scikit-learn it supports.
#
#   bash tools/sklearn_oldest.sh      (from the repository root)
#
# The CI venv (.ci/run) gets the newest supported scikit-learn through the
# test extra; this makes a second venv, build/sklearn-oldest/venv, with the
# oldest supported release (OLDEST in src/fastmlp/sklearn/_release.py, any
# patch release: pip takes the newest of that minor), fastmlp's runtime
# dependencies, pandas and the test packages the scikit-learn tests use
# (pytest, onnx, onnxruntime, skl2onnx), with the version bounds
# pyproject.toml gives them. pip picks the newest numpy and scipy that
# release allows, as it would for a user.
#
# The kernels are not built again: fastmlp is imported from src/
# (PYTHONPATH), where `pip install -e .` (.ci/run's dev_env) or
# `python setup.py build_ext --inplace` built them for this interpreter.
# Then tests/test_sklearn_*.py run there: scikit-learn's own test_mlp.py of
# that release on fastmlp's estimators (test_sklearn_own_suite.py),
# parametrize_with_checks, the equivalence with that release's estimators,
# sparse input, the ONNX export and the release shims (test_sklearn_compat.py).
#
# PYTHON selects the interpreter (default python3; 3.11 or newer, for
# tomllib). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
PYTHON="${PYTHON:-python3}"
WORK="$ROOT/build/sklearn-oldest"

die() { printf 'sklearn_oldest: ERROR: %s\n' "$*" >&2; exit 1; }

compgen -G "src/fastmlp/_kernels/_train*.so" >/dev/null \
    || die "no kernels built in src/fastmlp/_kernels: run pip install -e . (or python setup.py build_ext --inplace) first"

# The oldest release (major.minor) on the first line, then one requirement
# a line.
requirements=$("$PYTHON" - <<'EOF'
import re
import runpy
import tomllib

oldest = runpy.run_path("src/fastmlp/sklearn/_release.py")["OLDEST"]
with open("pyproject.toml", "rb") as f:
    project = tomllib.load(f)["project"]
extras = project["optional-dependencies"]
wanted = {"pandas", "pytest", "onnx", "onnxruntime", "skl2onnx"}


def name(requirement):
    return re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower()


print("%d.%d" % oldest)
picked = {}
for requirement in project["dependencies"] + extras["sklearn"] + extras["test"]:
    if name(requirement) in wanted or requirement in project["dependencies"]:
        picked.setdefault(name(requirement), requirement)
print("\n".join(picked.values()))
EOF
)

rm -rf "$WORK"
"$PYTHON" -m venv "$WORK/venv"
VENV_PY="$WORK/venv/bin/python"
mapfile -t reqs <<<"$requirements"
oldest="${reqs[0]}"
reqs[0]="scikit-learn==$oldest.*"
echo "sklearn_oldest: installing ${reqs[*]}"
"$VENV_PY" -m pip install -q --disable-pip-version-check "${reqs[@]}"

export PYTHONPATH="$ROOT/src"
"$VENV_PY" - "$oldest" <<'EOF'
import os
import sys

import numpy
import scipy
import sklearn

import fastmlp.sklearn

pin = sys.argv[1]
if not sklearn.__version__.startswith(pin + "."):
    sys.exit(f"sklearn_oldest: scikit-learn {sklearn.__version__} installed, not {pin}.x")
src = os.path.join(os.environ["PYTHONPATH"], "fastmlp")
if os.path.dirname(os.path.abspath(fastmlp.sklearn.__file__)) != os.path.join(src, "sklearn"):
    sys.exit(f"sklearn_oldest: fastmlp imported from {fastmlp.sklearn.__file__}, not {src}")
print(f"sklearn_oldest: scikit-learn {sklearn.__version__}, numpy {numpy.__version__}, "
      f"scipy {scipy.__version__}; fastmlp from {src}")
EOF

"$VENV_PY" -m pytest -p no:cacheprovider tests/test_sklearn_*.py
