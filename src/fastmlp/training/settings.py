"""One fit call's settings, typed: what the caller gave, and what validation
made of it.

``BaseMLP.fit`` packs its keyword arguments into a ``FitArguments``;
``check_fit`` (the one place fit's arguments are validated) turns them into
a ``FitSettings`` and a ``FitData``, which the training loop and the epoch
runners read. The execution strategy (fastmlp.training.strategy) calls
``check_fit`` and may hand the fit adjusted settings (a data-parallel fit's
agreed schedule, its verbose flag on rank 0 only).
"""
import dataclasses

import numpy as np

from ..inputs import frames as _frames
from ..inputs import validation as v

# Adam's defaults (scikit-learn's and PyTorch's too), defined once: fit's
# signature, FitArguments and OptimizerState read them from here.
ADAM_BETA_1 = 0.9
ADAM_BETA_2 = 0.999
ADAM_EPSILON = 1e-8


@dataclasses.dataclass(frozen=True, eq=False)
class FitArguments:
    """fit's keyword arguments as the caller gave them, not yet validated
    (names and meanings: ``BaseMLP.fit``). Owns nothing but the values: the
    ranks of a data-parallel fit compare them, and ``check_fit`` validates
    them."""

    # fit's own defaults (tests/test_fit_options.py holds the two equal),
    # for callers inside the package, its tests and benchmarks.
    epochs: object = 10
    batch_size: object = 32
    lr: object = 0.01
    momentum: object = 0.9
    shuffle: object = True
    optimizer: object = "momentum"
    beta_2: object = ADAM_BETA_2
    epsilon: object = ADAM_EPSILON
    sample_weight: object = None
    class_weight: object = None
    validation_data: object = None
    patience: object = None
    min_delta: object = 0.0
    verbose: object = False
    callback: object = None

    def items(self):
        """(name, value) of every argument, in fit's order."""
        return [(field.name, getattr(self, field.name)) for field in dataclasses.fields(self)]


def fit_settings(net, X, y, batch_size, momentum):
    """The FitSettings of fit(X, y, batch_size=batch_size, momentum=momentum)
    with the other arguments at their defaults (the benchmarks' epochs)."""
    arguments = FitArguments(batch_size=batch_size, momentum=momentum)
    return check_fit(net, X, y, arguments)[0]


@dataclasses.dataclass(frozen=True, eq=False)
class FitData:
    """fit's validated training data: ``X`` and ``Y`` as
    ``net._check_Xy(X, y, net._fit_class_indices)`` gave them, and the
    column names of a DataFrame X (a tuple of str), else None."""

    X: object
    Y: np.ndarray
    feature_names: tuple

    @property
    def n_rows(self):
        return self.X.shape[0]


@dataclasses.dataclass(frozen=True, eq=False)
class FitSettings:
    """One fit's validated settings, read by the training loop and the
    epoch runners:

    - ``epochs`` (int >= 0), ``batch_rows`` (rows per batch: batch_size
      capped at the rows, or all rows for batch_size=None), ``shuffle``;
    - ``lr``: a positive float, or a schedule ``lr(epoch)`` checked epoch by
      epoch; ``momentum`` (Adam's beta_1), ``optimizer`` and its ``beta_2``
      and ``epsilon``;
    - ``row_weights``: each row's weight in the batch objectives (sample
      and class weights together) in the model dtype, or None when every
      row weighs 1;
    - ``validation``: the validated (X_val, Y_val), or None; ``patience``
      (None: no early stopping) and ``min_delta``;
    - ``verbose`` and ``callback`` (None or a callable).
    """

    epochs: int
    batch_rows: int
    lr: object
    momentum: float
    shuffle: bool
    optimizer: str
    beta_2: float
    epsilon: float
    row_weights: np.ndarray
    validation: tuple
    patience: int
    min_delta: float
    verbose: bool
    callback: object

    @property
    def schedule(self):
        """The learning-rate schedule, or None for a constant lr."""
        return self.lr if callable(self.lr) else None

    @property
    def constant_lr(self):
        """The learning rate of every epoch, or None under a schedule."""
        return None if callable(self.lr) else self.lr

    def replace(self, **changes):
        """A copy with ``changes`` (the settings themselves are frozen)."""
        return dataclasses.replace(self, **changes)


def check_fit(net, X, y, arguments):
    """fit's arguments (a FitArguments) for ``net`` validated and converted:
    (FitSettings, FitData). Raises what fit raises for bad input, and
    changes nothing."""
    a = arguments
    Xc, Y = net._check_Xy(X, y, net._fit_class_indices)
    names = None if isinstance(X, np.ndarray) or not _frames.is_frame(X) else \
        _frames.column_names(X)
    epochs, rows, lr, momentum, shuffle = v.check_fit_params(
        a.epochs, a.batch_size, a.lr, a.momentum, a.shuffle, Xc.shape[0])
    row_weights = _row_weights(net, y, Y, a.sample_weight, a.class_weight)
    validation = None
    if a.validation_data is not None:
        if not isinstance(a.validation_data, (tuple, list)) or len(a.validation_data) != 2:
            raise TypeError("validation_data must be a pair (X_val, y_val)")
        try:
            validation = net._check_Xy(*a.validation_data, net._fit_class_indices)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"validation_data: {exc}") from None
    patience, min_delta = v.check_early_stopping(a.patience, a.min_delta,
                                                 validation is not None)
    optimizer, beta_2, epsilon = v.check_optimizer(a.optimizer, a.beta_2, a.epsilon)
    if a.callback is not None and not callable(a.callback):
        raise TypeError(f"callback must be callable, got {type(a.callback).__name__}")
    settings = FitSettings(epochs=epochs, batch_rows=rows, lr=lr, momentum=momentum,
                           shuffle=shuffle, optimizer=optimizer, beta_2=beta_2,
                           epsilon=epsilon, row_weights=row_weights, validation=validation,
                           patience=patience, min_delta=min_delta, verbose=a.verbose,
                           callback=a.callback)
    return settings, FitData(Xc, Y, names)


def _row_weights(net, y, Y, sample_weight, class_weight):
    """Each row's weight in the batch objectives (sample_weight times the
    class weight of its class), or None when every row weighs 1."""
    weights = v.check_sample_weight(sample_weight, Y.shape[0], net.dtype)
    if class_weight is None:
        return weights
    classes = v.row_classes(y, Y, net.loss_name, net.layer_sizes[-1])
    n_classes = max(2, net.layer_sizes[-1])
    per_row = v.class_row_weights(class_weight, classes, n_classes)
    if weights is not None:
        per_row = per_row * weights
    if not per_row.any():
        raise ValueError("sample_weight and class_weight together weigh every row 0: "
                         "nothing to train on")
    return np.ascontiguousarray(per_row, dtype=net.dtype)


def epoch_weight(settings, data):
    """The weight of one epoch's rows on this process: their count, or the
    sum of their row weights (what history's mean divides by)."""
    if settings.row_weights is None:
        return data.n_rows
    return float(np.sum(settings.row_weights, dtype=np.float64))
