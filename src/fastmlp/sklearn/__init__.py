"""Drop-in scikit-learn estimators on fastmlp's kernels.

    from fastmlp.sklearn import MLPClassifier, MLPRegressor

Same parameters, defaults, attributes and, for the same random_state, the
same fitted model as scikit-learn's ``sklearn.neural_network`` estimators of
the release this package supports; the intended differences are listed in
docs/sklearn.md. scikit-learn is an optional dependency:
``pip install "fastmlp[sklearn]"``.
"""
# The estimators subclass scikit-learn's and override two of its private
# methods, so the supported releases are pinned (and tested) exactly.
SUPPORTED_SKLEARN = ((1, 9), (1, 10))

try:
    import sklearn as _sklearn
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "fastmlp.sklearn needs scikit-learn, an optional dependency of fastmlp; "
        'install it with: pip install "fastmlp[sklearn]"') from exc


def _release(version):
    parts = []
    for piece in version.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


if not SUPPORTED_SKLEARN[0] <= _release(_sklearn.__version__) < SUPPORTED_SKLEARN[1]:
    raise ImportError(
        f"fastmlp.sklearn supports scikit-learn >={'.'.join(map(str, SUPPORTED_SKLEARN[0]))},"
        f"<{'.'.join(map(str, SUPPORTED_SKLEARN[1]))}; found {_sklearn.__version__}. "
        'Install a supported release with: pip install "fastmlp[sklearn]"')

from ._estimators import MLPClassifier, MLPRegressor  # noqa: E402
from ._onnx import register_onnx_converters  # noqa: E402

__all__ = ["MLPClassifier", "MLPRegressor", "register_onnx_converters"]
