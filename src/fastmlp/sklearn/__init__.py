"""Drop-in scikit-learn estimators on fastmlp's kernels.

    from fastmlp.sklearn import MLPClassifier, MLPRegressor

Same parameters, defaults, attributes and, for the same random_state, the
same fitted model as scikit-learn's ``sklearn.neural_network`` estimators of
the installed release (1.5 to 1.9 are tested; fastmlp.sklearn._release
holds the supported range); the intended differences are listed in
docs/sklearn.md. scikit-learn is an optional dependency:
``pip install "fastmlp[sklearn]"``.
"""
from ._release import INSTALL_HINT as _INSTALL_HINT
from ._release import check_release as _check_release

try:
    import sklearn as _sklearn
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "fastmlp.sklearn needs scikit-learn, an optional dependency of fastmlp; "
        f"install it with: {_INSTALL_HINT}") from exc

_check_release(_sklearn.__version__)

from ._estimators import MLPClassifier, MLPRegressor  # noqa: E402
from ._onnx import register_onnx_converters  # noqa: E402

__all__ = ["MLPClassifier", "MLPRegressor", "register_onnx_converters"]
