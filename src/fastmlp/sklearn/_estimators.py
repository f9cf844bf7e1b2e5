"""MLPClassifier and MLPRegressor: scikit-learn's estimators, trained by
fastmlp's kernels.

They subclass scikit-learn's own classes, so parameters, defaults, their
validation, tags, label handling, scoring and the bookkeeping of stopping
rules are scikit-learn's code, not a copy of it. What is replaced is the
numerical work: ``_fit`` (initialization is still scikit-learn's, drawing
from the same RandomState in the same order; the per-batch loop and the
solver updates run in one kernel call per epoch, and L-BFGS evaluates loss
and gradient on the flat parameter buffer) and ``_forward_pass_fast`` (used
by predict, predict_proba and score). One parameter is added: ``n_jobs``,
the threads of fit and prediction (None: automatic; -1: every core of the
process's affinity; k: k threads; fastmlp.execution.threads), and one
fitted attribute, ``n_threads_``, the threads the last fit ran on. The
intended differences from scikit-learn are listed in docs/sklearn.md.
"""
import inspect
import warnings
from numbers import Integral
from typing import NamedTuple

import numpy as np
import scipy.optimize
from sklearn.base import _fit_context, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as _SkMLPClassifier
from sklearn.neural_network import MLPRegressor as _SkMLPRegressor
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils._param_validation import Interval, Options
from sklearn.utils.optimize import _check_optimize_result
from sklearn.utils.validation import _check_sample_weight

from ..inputs.validation import FINITE_CHECK_ELEMENTS, check_layer_sizes
from ..inputs import sparse as _sparse
from ..execution import threads as _threads
from ..execution.cost import step_flops
from ..training.epoch import STATUS_NONFINITE_LOSS, STATUS_OK
from . import _compat
from ._compat import validate_data
from ._network import EpochRunner, Network, SolverState, new_sklearn_optimizer

_NONFINITE_MESSAGE = (
    "Solver produced non-finite parameter weights. The input data may"
    " contain large values and need to be preprocessed.")


def _needs_no_validation(est, X):
    """Whether validate_data(est, X, reset=False) would return X as it is
    and say nothing: a finite 2-D float ndarray with the fitted number of
    features, for an estimator fitted without feature names. On few rows
    validate_data costs more than the forward pass itself (about 100 us of
    a 130 us predict_proba of one row on digits); anything else still goes
    through it, so errors and warnings stay scikit-learn's own."""
    return (type(X) is np.ndarray and X.ndim == 2 and X.dtype in _FLOAT_DTYPES
            and X.dtype.isnative and X.shape[0] > 0
            and X.shape[1] == getattr(est, "n_features_in_", -1)
            and not hasattr(est, "feature_names_in_")
            and X.size <= FINITE_CHECK_ELEMENTS and np.isfinite(X).all())


_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class _Rows(NamedTuple):
    """Rows of a fit: inputs, targets and sample weights (or None)."""
    X: object
    y: object
    sample_weight: object


def _dense_c(X, dtype):
    """X as the kernels read it: a C-contiguous array of dtype, or for
    sparse X a fastmlp.inputs.sparse.CsrRows (never densified)."""
    if _sparse.is_sparse(X):
        return _sparse.check_csr(X, X.shape[1], dtype)
    return np.ascontiguousarray(X, dtype=dtype)


class _FastMLPMixin:
    """The numerical core shared by both estimators; placed before
    scikit-learn's class in the bases so that its methods win."""

    # --- the network and its views -------------------------------------

    def _initialize(self, y, layer_units, dtype):
        # scikit-learn's own initialization draws the weights (same
        # RandomState, same order); they are then moved into the flat buffer
        # and the attributes become views of it.
        self._best_coefs = None   # see _compat.keep_initial_weights_as_best
        super()._initialize(y, layer_units, dtype)
        _compat.keep_initial_weights_as_best(self)
        self._adopt(Network(layer_units, self.activation, self.out_activation_, dtype),
                    self.coefs_, self.intercepts_)

    def _adopt(self, net, coefs, intercepts):
        """Copy coefs and intercepts into net's buffer and make net the
        estimator's network, coefs_ and intercepts_ its views."""
        net.load(coefs, intercepts)
        self._network = net
        self.coefs_ = list(net.coefs)
        self.intercepts_ = list(net.intercepts)

    def _network_like_attributes(self, dtype=None):
        """A new network shaped like coefs_ and intercepts_, holding them, of
        dtype (None: that of coefs_[0] if it is a float type, else float64)."""
        coefs = [np.asarray(c) for c in self.coefs_]
        intercepts = [np.asarray(b) for b in self.intercepts_]
        units = [c.shape[0] if c.ndim == 2 else -1 for c in coefs[:1]]
        units += [c.shape[1] if c.ndim == 2 else -1 for c in coefs]
        if (len(intercepts) != len(coefs) or -1 in units
                or any(c.shape != (units[i], units[i + 1]) for i, c in enumerate(coefs))
                or any(b.shape != (units[i + 1],) for i, b in enumerate(intercepts))):
            raise ValueError(
                "coefs_ and intercepts_ do not describe a network: coefs_ shapes "
                f"{[c.shape for c in coefs]}, intercepts_ shapes {[b.shape for b in intercepts]}")
        if dtype is None:
            dtype = coefs[0].dtype if coefs[0].dtype in _FLOAT_DTYPES else np.float64
        net = Network(units, self.activation, self.out_activation_, dtype)
        net.load(coefs, intercepts)
        return net

    def _existing_network(self):
        """The network; built from coefs_ and intercepts_ if they were set by
        hand on an estimator never fitted here (scikit-learn's own code
        needs nothing else to continue training or to predict)."""
        net = getattr(self, "_network", None)
        if net is None:
            net = self._network_like_attributes()
            self._adopt(net, net.coefs, net.intercepts)
        return net

    def _synced_network(self):
        """The network, its buffer brought up to date with coefs_ and
        intercepts_ if those were replaced (not just written into)."""
        net = self._existing_network()
        if not net.owns(self.coefs_, self.intercepts_):
            self._adopt(net, self.coefs_, self.intercepts_)
        return net

    def _prediction_network(self):
        """The network holding the current parameters, without changing the
        estimator: its own, or a packed copy (of the model's dtype) if
        coefs_ / intercepts_ were replaced."""
        net = getattr(self, "_network", None)
        if net is None:
            return self._network_like_attributes()
        if net.owns(self.coefs_, self.intercepts_):
            return net
        return self._network_like_attributes(net.dtype)

    @property
    def _optimizer(self):
        """scikit-learn's optimizer object of the last stochastic fit (its
        learning_rate, schedule and stopping rules), under scikit-learn's
        name for it."""
        state = getattr(self, "_solver_state", None)
        if state is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute '_optimizer'")
        return state.sklearn_optimizer()

    def __getstate__(self):
        # A copy: the base class may hand out the instance's own __dict__.
        state = dict(super().__getstate__())
        # coefs_ / intercepts_ carry the parameters; the buffer is rebuilt.
        state.pop("_network", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if hasattr(self, "coefs_"):
            self._existing_network()

    # --- prediction ----------------------------------------------------

    def _forward_pass_fast(self, X, check_input=True):
        if check_input and not _needs_no_validation(self, X):
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        net = self._prediction_network()
        X = _dense_c(X, net.dtype)
        if len(X.shape) != 2 or X.shape[1] != net.sizes[0]:
            raise ValueError(f"X has {X.shape[-1]} features, but this network expects "
                             f"{net.sizes[0]}")
        return net.forward(X, self._thread_request())

    def _thread_request(self):
        """n_jobs as a thread request (fastmlp.execution.threads); an
        estimator unpickled from before n_jobs existed has none: automatic."""
        return _threads.check_request(getattr(self, "n_jobs", None), "n_jobs")

    # --- fitting -------------------------------------------------------

    def _fit(self, X, y, sample_weight=None, incremental=False):
        request = self._thread_request()  # before anything changes
        hidden_layer_sizes = self.hidden_layer_sizes
        if not hasattr(hidden_layer_sizes, "__iter__"):
            hidden_layer_sizes = [hidden_layer_sizes]
        hidden_layer_sizes = list(hidden_layer_sizes)
        if np.any(np.array(hidden_layer_sizes) <= 0):
            raise ValueError(
                "hidden_layer_sizes must be > 0, got %s." % hidden_layer_sizes)
        first_pass = not hasattr(self, "coefs_") or (
            not self.warm_start and not incremental)

        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        dtype = X.dtype if first_pass else self._existing_network().dtype
        X = _dense_c(X, dtype)
        n_samples, n_features = X.shape
        if sample_weight is not None:
            sample_weight = np.ascontiguousarray(
                _check_sample_weight(sample_weight, X, dtype=dtype))
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        self.n_outputs_ = y.shape[1]
        layer_units = [n_features] + hidden_layer_sizes + [self.n_outputs_]
        # Within what the kernels' BLAS calls and flat buffer can address:
        # a ValueError before anything is allocated.
        check_layer_sizes(layer_units)
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(y, layer_units, dtype)
        elif not self._network.matches(layer_units, dtype):
            raise ValueError(
                f"warm_start / partial_fit: the network has layer sizes "
                f"{list(self._network.sizes)}, but this call needs {layer_units}; "
                f"refit with warm_start=False")
        net = self._synced_network()
        Y = np.ascontiguousarray(y, dtype=dtype)

        if self.solver in ("sgd", "adam"):
            self._fit_stochastic_kernels(net, X, Y, sample_weight, incremental, y, request)
        else:
            self.n_threads_ = net.kernels.call_threads(
                X.shape[0], request, isinstance(X, _sparse.CsrRows), backward=True)
            self._fit_lbfgs_kernels(net, X, Y, sample_weight, request)

        if not np.isfinite(net.flat).all():
            raise ValueError(_NONFINITE_MESSAGE)
        return self

    def _fit_lbfgs_kernels(self, net, X, Y, sample_weight, request):
        denom = float(X.shape[0] if sample_weight is None else sample_weight.sum())
        grads32 = np.empty_like(net.flat) if net.dtype != np.float64 else None

        def loss_grad(x):
            # L-BFGS works in float64 on its own vector; it is copied into
            # the buffer the kernels read. The gradient is a new array each
            # call (scipy may keep the previous one); in float64 the kernel
            # writes it there directly.
            np.copyto(net.flat, x, casting="same_kind")
            if grads32 is None:
                grads = np.empty(net.flat.size)
                loss = net.loss_and_gradients(X, Y, sample_weight, denom, self.alpha, grads,
                                              request)
                return loss, grads
            loss = net.loss_and_gradients(X, Y, sample_weight, denom, self.alpha, grads32,
                                          request)
            return loss, grads32.astype(np.float64)

        iprint = 1 if (self.verbose is True or self.verbose >= 1) else -1
        opt_res = scipy.optimize.minimize(
            loss_grad, net.flat.astype(np.float64), method="L-BFGS-B", jac=True,
            options={
                "maxfun": self.max_fun,
                "maxiter": self.max_iter,
                "gtol": self.tol,
                **_compat.lbfgs_print_options(iprint),
            })
        self.n_iter_ = _check_optimize_result("lbfgs", opt_res, self.max_iter)
        self.loss_ = np.float64(opt_res.fun)  # a NumPy scalar, as scikit-learn's
        np.copyto(net.flat, opt_res.x, casting="same_kind")

    # --- the stochastic solvers (sgd and adam) ---------------------------
    # scikit-learn's _fit_stochastic piece by piece, in its order: the same
    # RandomState draws (the validation split, then one shuffle per epoch),
    # the same warnings and the same attributes, with its batch loop
    # replaced by one kernel call per epoch.

    def _fit_stochastic_kernels(self, net, X, Y, sample_weight, incremental, labels, request):
        """labels: y as _validate_input returned it (the classifiers' boolean
        indicator columns), which the early-stopping split stratifies by, as
        scikit-learn does (its error for a too small class names them);
        request: the fit's thread request."""
        state = self._solver_state_for_fit(net, incremental)
        # After the solver is made, as in scikit-learn: a refused
        # partial_fit still leaves the estimator its _optimizer.
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        train, validation = self._training_and_validation_rows(X, Y, sample_weight, labels)
        n_samples = train.X.shape[0]
        batch_rows = self._batch_rows(n_samples)
        self.n_threads_ = _threads.resolve(request, step_flops(net.sizes, batch_rows))
        with _threads.CallThreads(self.n_threads_) as pool:
            runner = EpochRunner(net, train, batch_rows, state, self.alpha, pool)
            try:
                self._train_epochs(runner, n_samples, validation, incremental)
            except KeyboardInterrupt:
                warnings.warn("Training interrupted by user.")
        if self.early_stopping:
            # Restore the best weights into the buffer the views share.
            self._adopt(net, self._best_coefs, self._best_intercepts)

    def _solver_state_for_fit(self, net, incremental):
        """The solver state a partial_fit continues, else a new one made
        from the estimator's parameters (kept, like scikit-learn's
        _optimizer, for the partial_fit calls that follow)."""
        if not incremental or not hasattr(self, "_solver_state"):
            self._solver_state = SolverState(new_sklearn_optimizer(self), net.layout.n_params,
                                             net.dtype)
        return self._solver_state

    def _training_and_validation_rows(self, X, Y, sample_weight, labels):
        """The rows to train on, as the kernels read them, and the rows that
        score each epoch, as score() takes them (all None without early
        stopping)."""
        if not self.early_stopping:
            return _Rows(X, Y, sample_weight), _Rows(None, None, None)
        # Split exactly as scikit-learn does, with its function and the
        # same RandomState; no stratification for multilabel targets.
        stratify = labels if is_classifier(self) and self.n_outputs_ == 1 else None
        # Sparse X is split by row numbers: the split depends on the row
        # count and stratify only, so it is the same one.
        sparse = isinstance(X, _sparse.CsrRows)
        X_split = np.arange(X.shape[0]) if sparse else X
        arrays = (X_split, Y) if sample_weight is None else (X_split, Y, sample_weight)
        parts = train_test_split(*arrays, random_state=self._random_state,
                                 test_size=self.validation_fraction, stratify=stratify)
        X_train, X_val, Y_train, Y_val = parts[:4]
        if sparse:
            # The validation rows go through score(), as scipy.sparse.
            X_train, X_val = X.take(X_train), X.take(X_val).matrix()
        sw_train, sw_val = parts[4:] if sample_weight is not None else (None, None)
        if X_val.shape[0] < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' "
                "or the size of your dataset.")
        # The kernels read C-contiguous arrays only (no copy when the
        # split's arrays already are).
        train = _Rows(X_train if sparse else np.ascontiguousarray(X_train),
                      np.ascontiguousarray(Y_train),
                      None if sw_train is None else np.ascontiguousarray(sw_train))
        return train, _Rows(X_val, self._targets_to_score(Y_val), sw_val)

    def _targets_to_score(self, Y):
        """Target rows Y (n, n_outputs) as score() takes them, which is how
        scikit-learn's validation split holds them: the classifiers' labels,
        the regressor's y 1-D for one output."""
        if is_classifier(self):
            return self._label_binarizer.inverse_transform(Y)
        return Y if Y.shape[1] > 1 else Y.ravel()

    def _batch_rows(self, n_samples):
        """batch_size resolved for n_samples training rows as scikit-learn
        resolves it, with its warning when it is clipped."""
        if self.batch_size == "auto":
            return min(200, n_samples)
        if self.batch_size > n_samples:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than "
                "sample size. It is going to be clipped")
        return int(np.clip(self.batch_size, 1, n_samples))

    def _train_epochs(self, runner, n_samples, validation, incremental):
        """scikit-learn's epoch loop: train an epoch, book it, apply the
        stopping rules; up to max_iter epochs (one for partial_fit)."""
        optimizer = runner.state.optimizer
        sample_idx = np.arange(n_samples, dtype=np.intp)
        self.n_iter_ = 0
        for _ in range(self.max_iter):
            status, total, step = runner.run(self._epoch_order(sample_idx))
            if status != STATUS_OK:
                self._stop_diverged(status, step, n_samples)
                return
            self._book_epoch(np.float64(total) / n_samples, n_samples)  # scikit-learn's type
            _compat.update_no_improvement_count(self, self.early_stopping, *validation)
            optimizer.iteration_ends(self.t_)
            if self._stops_for_no_improvement(optimizer) or incremental:
                return
            if self.n_iter_ == self.max_iter:
                warnings.warn(
                    "Stochastic Optimizer: Maximum iterations (%d) "
                    "reached and the optimization hasn't converged yet."
                    % self.max_iter,
                    ConvergenceWarning)

    def _epoch_order(self, sample_idx):
        """The order of the next epoch's rows: sample_idx shuffled again, or
        None (in order) without shuffle."""
        if not self.shuffle:
            return None
        # One permutation of the running index per epoch, as
        # sklearn.utils.shuffle(sample_idx, random_state=...) makes it: a
        # RandomState.shuffle of arange(n), then indexing. Its swaps do not
        # depend on the data, so shuffling sample_idx in place gives the same
        # array from the same draws (11 us instead of 78 on 1347 rows).
        self._random_state.shuffle(sample_idx)
        return sample_idx

    def _book_epoch(self, loss, n_samples):
        """Count an epoch over n_samples rows that ended with this loss, in
        the attributes scikit-learn keeps."""
        self.n_iter_ += 1
        self.loss_ = loss
        self.t_ += n_samples
        self.loss_curve_.append(self.loss_)
        if self.verbose:
            print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))

    def _stops_for_no_improvement(self, optimizer):
        """Whether training ends because the loss (or the validation score)
        stopped improving. When the adaptive schedule can still lower the
        learning rate, trigger_stopping does so instead, and the count
        starts again."""
        if self._no_improvement_count <= self.n_iter_no_change:
            return False
        if self.early_stopping:
            msg = ("Validation score did not improve more than "
                   "tol=%f for %d consecutive epochs."
                   % (self.tol, self.n_iter_no_change))
        else:
            msg = ("Training loss did not improve more than tol=%f"
                   " for %d consecutive epochs."
                   % (self.tol, self.n_iter_no_change))
        if optimizer.trigger_stopping(msg, self.verbose):
            return True
        self._no_improvement_count = 0
        return False

    def _stop_diverged(self, status, step, n_samples):
        """End training at the epoch whose loss or update was not finite:
        scikit-learn's error, or with early stopping its ending (see
        _end_diverged_epoch)."""
        where = (f"training diverged at epoch {self.n_iter_ + 1}, step {step}: the "
                 f"{'loss' if status == STATUS_NONFINITE_LOSS else 'update'} "
                 "was not finite")
        if not self.early_stopping:
            raise ValueError(f"{_NONFINITE_MESSAGE} ({where})")
        self._end_diverged_epoch(n_samples, where)

    def _end_diverged_epoch(self, n_samples, where):
        """Book a diverged epoch of an early-stopping fit as scikit-learn
        books each epoch it trains with non-finite weights: nan loss and nan
        validation score (its score of non-finite predictions). Training
        stops here (scikit-learn trains on to max_iter, every later epoch nan
        again) and the fit ends, like scikit-learn's, with the weights of the
        best validation score, not with an error."""
        self._book_epoch(np.float64(np.nan), n_samples)
        self.validation_scores_.append(np.nan)
        if self.verbose:
            print("Validation score: %f" % self.validation_scores_[-1])
        kept = ("the initial weights are kept (no epoch had a finite validation score)"
                if self.best_validation_score_ == -np.inf else
                f"the weights of the best validation score ({self.best_validation_score_}) "
                "are kept")
        warnings.warn(f"Stochastic Optimizer: {where}; training stopped and {kept}.",
                      ConvergenceWarning)


def _drop_in_doc(sk_class, kind):
    """The docstring of the drop-in for scikit-learn's sk_class: what
    differs, then scikit-learn's own."""
    return (
        f"Multi-layer perceptron {kind}: scikit-learn's {sk_class.__name__} with "
        "its training and prediction run by fastmlp's kernels.\n\n"
        "Same parameters, attributes and results (see docs/sklearn.md for the "
        "intended differences); scikit-learn's documentation follows.\n\n"
        + (sk_class.__doc__ or ""))


def _init_with_n_jobs(sk_class):
    """sk_class's __init__ with one more keyword parameter, n_jobs=None,
    and a signature that says so (scikit-learn's get_params, clone and
    repr read the parameters from it); scikit-learn's own parameters stay
    its own, whatever its version."""
    base_init = sk_class.__init__
    signature = inspect.signature(base_init)

    def __init__(self, *args, n_jobs=None, **kwargs):
        base_init(self, *args, **kwargs)
        self.n_jobs = n_jobs

    __init__.__signature__ = signature.replace(parameters=[
        *signature.parameters.values(),
        inspect.Parameter("n_jobs", inspect.Parameter.KEYWORD_ONLY, default=None)])
    __init__.__doc__ = base_init.__doc__
    return __init__


def _constraints_with_n_jobs(sk_class):
    return {**sk_class._parameter_constraints,
            "n_jobs": [None, Interval(Integral, 1, None, closed="left"),
                       Options(Integral, {-1})]}


class MLPClassifier(_FastMLPMixin, _SkMLPClassifier):
    __doc__ = _drop_in_doc(_SkMLPClassifier, "classifier")
    __init__ = _init_with_n_jobs(_SkMLPClassifier)
    _parameter_constraints = _constraints_with_n_jobs(_SkMLPClassifier)


class MLPRegressor(_FastMLPMixin, _SkMLPRegressor):
    __doc__ = _drop_in_doc(_SkMLPRegressor, "regressor")
    __init__ = _init_with_n_jobs(_SkMLPRegressor)
    _parameter_constraints = _constraints_with_n_jobs(_SkMLPRegressor)

    # scikit-learn's regressor offers partial_fit for every solver (its
    # availability test forgets to call _check_solver) and then runs a whole
    # L-BFGS fit; here, as in its classifier, only stochastic solvers have
    # it, with the parameters of the installed release's.
    if _compat.FIT_TAKES_SAMPLE_WEIGHT:
        @available_if(lambda est: est._check_solver())
        @_fit_context(prefer_skip_nested_validation=True)
        def partial_fit(self, X, y, sample_weight=None):
            """Update the model with a single iteration over the given data.

            Only for solver='sgd' or 'adam'.
            """
            return self._fit(X, y, sample_weight=sample_weight, incremental=True)
    else:
        @available_if(lambda est: est._check_solver())
        @_fit_context(prefer_skip_nested_validation=True)
        def partial_fit(self, X, y):
            """Update the model with a single iteration over the given data.

            Only for solver='sgd' or 'adam'.
            """
            return self._fit(X, y, incremental=True)
