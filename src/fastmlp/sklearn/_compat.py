"""What the estimators use of scikit-learn that differs between the
supported releases (fastmlp.sklearn._release), each chosen by what the
installed release has, never by its version number (where a release lacks
scikit-learn's helper for the L-BFGS-B options, its rule, which reads
scipy's version, is repeated here):

- validate_data: a function of sklearn.utils.validation since 1.6; before,
  the estimator's method _validate_data.
- sample weights: fit and partial_fit take sample_weight since 1.7, and
  _update_no_improvement_count scores the validation rows with theirs.
- the L-BFGS-B options: since 1.7 scikit-learn leaves out iprint for scipy
  1.15 and newer (which deprecated it); 1.5 and 1.6 always pass it, and
  here the newer rule holds for them too (no DeprecationWarning per fit).
- the best weights of early stopping: since 1.6 _initialize saves the
  initial weights as the best so far; before, only an epoch that improved
  the validation score did.
"""
import inspect

import scipy
from sklearn.neural_network import MLPClassifier as _SkMLPClassifier
from sklearn.neural_network._multilayer_perceptron import BaseMultilayerPerceptron

from ._release import release

try:
    from sklearn.utils.validation import validate_data
except ImportError:
    def validate_data(estimator, X="no_validation", y="no_validation", **check_params):
        """sklearn.utils.validation.validate_data (1.6) on a release that has
        its method form: the same checks, the same n_features_in_ and
        feature_names_in_ bookkeeping."""
        return estimator._validate_data(X, y, **check_params)

try:
    from sklearn.utils.fixes import _get_additional_lbfgs_options_dict
except ImportError:
    def _get_additional_lbfgs_options_dict(key, value):
        # scikit-learn's own rule where it has one: iprint only for the
        # scipy releases that have not deprecated it.
        return {} if release(scipy.__version__) >= (1, 15) else {key: value}


def _takes(function, name):
    return name in inspect.signature(function).parameters


# fit(X, y, sample_weight=None) and partial_fit(..., sample_weight=None).
FIT_TAKES_SAMPLE_WEIGHT = _takes(_SkMLPClassifier.fit, "sample_weight")
_SCORES_WEIGHTED = _takes(BaseMultilayerPerceptron._update_no_improvement_count,
                          "sample_weight")


def lbfgs_print_options(iprint):
    """The options of scipy's L-BFGS-B that set its printing to iprint, as
    scikit-learn passes them with the installed scipy."""
    return _get_additional_lbfgs_options_dict("iprint", iprint)


def update_no_improvement_count(est, early_stopping, X_val, y_val, sample_weight_val):
    """est._update_no_improvement_count for this epoch: the validation
    score (weighted by sample_weight_val) or the training loss against the
    best so far. Validation rows have weights only where fit takes them."""
    if _SCORES_WEIGHTED:
        est._update_no_improvement_count(early_stopping, X_val, y_val, sample_weight_val)
        return
    if sample_weight_val is not None:
        raise TypeError("sample_weight needs scikit-learn 1.7 or newer: this release's "
                        "MLP estimators cannot score weighted validation rows")
    est._update_no_improvement_count(early_stopping, X_val, y_val)


def keep_initial_weights_as_best(est):
    """After scikit-learn's _initialize (called with est._best_coefs set to
    None): the initial weights as the best so far, unless that release's
    _initialize already saved them. An early-stopping fit whose epochs all
    diverge then ends with the initial weights, as since 1.6."""
    if getattr(est, "_best_coefs", None) is None:
        est._best_coefs = [c.copy() for c in est.coefs_]
        est._best_intercepts = [b.copy() for b in est.intercepts_]
