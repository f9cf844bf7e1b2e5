"""The public MLP contract, shared by the kernel model and the NumPy reference.

This class owns everything that is not arithmetic: argument checks, the flat
parameter and velocity buffers with their views, initialization, the
per-epoch shuffle drawn from the model's generator, history, and the shape of
what each method returns. Subclasses supply the numerics through these hooks:

- ``_forward(X)``: output activations for validated X;
- ``_objective(X, Y, outputs=None)``: the objective (mean loss + l2 term)
  as a float, also writing the output activations into ``outputs`` if given;
- ``_gradients(X, Y)``: flat gradient of that objective, layout of ``params``;
- ``_epoch_runner(data, settings, strategy)`` (fastmlp.training.settings'
  FitData and FitSettings of a validated fit, Y as
  ``_check_Xy(X, y, self._fit_class_indices)`` gave it, for fit, loss,
  gradients and validation data alike; the fit's execution strategy,
  fastmlp.training.strategy): a callable ``run(perm, lr=None)`` that trains one
  epoch (rows in ``perm`` order, or in order when ``perm`` is None; at
  learning rate ``lr``, None meaning the settings' constant one) and
  returns the mean of its batch objectives weighted by their rows (by
  their weights, with row weights: then each batch's objective weighs its
  rows, and a batch of weight 0 takes no step) over every process
  (``strategy.total_weight``); a fit with a callback may change the model
  between two calls;
- ``_layer_stats(X, Y or None)``: the (n_layers, 7) table of
  fastmlp.network.stats.COLUMNS for one pass over X;
- ``_strategy(comm)``: the execution strategy of fit(comm=comm)
  (fastmlp.MLP: a data-parallel one for a communicator, fastmlp.training.mpi);
  here SingleProcess, and a TypeError for a communicator.

Because both implementations inherit the same orchestration, the same seed
gives them the same initial weights and the same shuffles.
"""
import time
import warnings

import numpy as np

from .inputs import frames as _frames
from .training import progress as _progress
from .network import stats as _stats
from .inputs import validation as v
from .training.settings import ADAM_BETA_2, ADAM_EPSILON, FitArguments
from .network.init import initialize
from .network.layout import Layout, first_layer_transposed
from .training.errors import DivergenceError
from .training.strategy import SingleProcess
from .execution import threads as _threads


class _EarlyStopping:
    """fit's patience: the best validation objective so far, the epochs
    since it, and a copy of the parameters and optimizer state after it
    (buffers made once per fit, refreshed only when the objective improves)."""

    def __init__(self, net, patience, min_delta):
        self.net, self.patience, self.min_delta = net, patience, min_delta
        self.best = float("inf")
        self.best_epoch = None
        self.waited = 0
        self.saved = [np.empty_like(a) for a in self._state()]
        self.steps = 0

    def _state(self):
        net = self.net
        return [a for a in (net.params, net.velocity, net.second_moment) if a is not None]

    def epoch_done(self, metrics):
        """Record this epoch; True when patience has run out."""
        if metrics["val_loss"] < self.best - self.min_delta:
            self.best, self.best_epoch, self.waited = metrics["val_loss"], metrics["epoch"], 0
            for copy, live in zip(self.saved, self._state()):
                np.copyto(copy, live)
            self.steps = self.net.optimizer_steps
            return False
        self.waited += 1
        return self.waited >= self.patience

    def restore_best(self):
        if self.best_epoch is None:
            return  # no finite validation objective: no copy was ever made
        for copy, live in zip(self.saved, self._state()):
            np.copyto(live, copy)
        self.net.optimizer_steps = self.steps
        self.net.best_epoch = self.best_epoch


class BaseMLP:
    def __init__(self, layer_sizes, activation="relu", loss="mse", output=None,
                 init=None, l2=0.0, dtype="float32", seed=None, matmul_dtype=None,
                 n_threads=None):
        sizes = v.check_layer_sizes(layer_sizes)
        hidden = v.check_activations(activation, len(sizes) - 2)
        loss_name, output_name = v.check_loss_output(loss, output)
        layer_acts = hidden + [output_name]
        self.layer_sizes = sizes
        self.hidden_activations = hidden
        self.loss_name = loss_name
        self.output_activation = output_name
        self.layer_activations = layer_acts
        self.init_schemes = v.check_init(init, layer_acts)
        self.l2 = v.check_l2(l2)
        self.dtype = v.check_dtype(dtype)
        # None: products in dtype; "bfloat16": operands rounded to bfloat16,
        # products accumulated in float32 (the subclass checks it can).
        self.matmul_dtype = v.check_matmul_dtype(matmul_dtype, self.dtype)
        self._check_matmul_support()
        self.rng = v.check_seed(seed)
        self.n_threads = n_threads
        # The thread count the last fit ran on (None before any fit).
        self.n_threads_ = None

        # The memory layout is the same for both implementations, so their
        # params buffers compare element for element; files are by layer.
        self._layout = Layout(sizes, first_transposed=first_layer_transposed(sizes))
        self.params = np.zeros(self._layout.n_params, dtype=self.dtype)
        self.velocity = np.zeros(self._layout.n_params, dtype=self.dtype)
        self.weights = self._layout.weight_views(self.params)
        self.biases = self._layout.bias_views(self.params)
        initialize(self.weights, self.biases, self.init_schemes, self.rng)
        self.history = []
        self.metrics = []
        # The epoch (an index into history) whose state early stopping
        # restored in the last fit; None when none did.
        self.best_epoch = None
        # The update rule of the last fit and the rest of its state: the
        # velocity is `velocity` (Adam's first moment), Adam's second moment
        # is `second_moment` (None for the other rules), laid out as params,
        # and `optimizer_steps` counts Adam's steps. fit(optimizer=...) with
        # another rule starts them from zero.
        self.optimizer = "momentum"
        self.second_moment = None
        # The column names of the DataFrame the model was first fit on
        # (a tuple of str), or None; later DataFrames are read by them.
        self.feature_names = None
        self._optimizer_steps = np.zeros(1, dtype=np.intp)

    def _check_matmul_support(self):
        """Raise if this implementation cannot run self.matmul_dtype."""

    @property
    def n_threads(self):
        """Threads of fit, forward, predict, loss and gradients: None
        (automatic: one for a network too small to gain, else the cores of
        the process's CPU affinity within the caller's threadpoolctl or
        joblib limit), -1 (every core of the affinity) or a count. The
        results are the same for every value. Not saved with the model."""
        return self._n_threads

    @n_threads.setter
    def n_threads(self, value):
        self._n_threads = _threads.check_request(value)

    @property
    def optimizer_steps(self):
        """Steps taken by the optimizer (Adam's t), across fit calls."""
        return int(self._optimizer_steps[0])

    @optimizer_steps.setter
    def optimizer_steps(self, value):
        self._optimizer_steps[0] = value

    def __repr__(self):
        return (
            f"{type(self).__name__}({list(self.layer_sizes)}, "
            f"activation={self.hidden_activations!r}, loss={self.loss_name!r}, "
            f"output={self.output_activation!r}, l2={self.l2}, dtype={self.dtype.name!r}"
            + (f", matmul_dtype={self.matmul_dtype!r})" if self.matmul_dtype else ")")
        )

    # -- validation helpers -------------------------------------------------
    def _check_X(self, X):
        if not isinstance(X, np.ndarray) and _frames.is_frame(X):
            # The columns the model was fit on, by name; the dtypes one by one.
            X = _frames.frame_to_array(X, self.feature_names)
        return v.check_X(X, self.layer_sizes[0], self.dtype)

    # Whether fit hands _epoch_runner cross_entropy labels as a column of
    # class indices (v.check_y's as_indices) instead of one-hot rows.
    _fit_class_indices = False

    def _check_Xy(self, X, y, as_indices=False):
        Xc = self._check_X(X)
        Y = v.check_y(y, Xc.shape[0], self.loss_name, self.layer_sizes[-1], self.dtype,
                      as_indices)
        return Xc, Y

    # -- public methods -----------------------------------------------------
    def forward(self, X):
        """Output-layer activations, shape (n, n_outputs), in the model dtype."""
        return self._forward(self._check_X(X))

    def predict(self, X):
        out = self.forward(X)
        if self.loss_name == "cross_entropy":
            return np.argmax(out, axis=1)
        if self.loss_name == "binary_cross_entropy":
            labels = (out > 0.5).astype(np.int64)
            return labels[:, 0] if labels.shape[1] == 1 else labels
        return out[:, 0] if out.shape[1] == 1 else out

    def loss(self, X, y):
        """Objective: mean per-sample loss plus (l2/2) * sum of squared weights."""
        Xc, Y = self._check_Xy(X, y, self._fit_class_indices)
        return float(self._objective(Xc, Y))

    def gradients(self, X, y):
        """(list of dW, list of db): gradient of ``loss(X, y)``, new arrays."""
        Xc, Y = self._check_Xy(X, y, self._fit_class_indices)
        flat = self._gradients(Xc, Y)
        return ([w.copy() for w in self._layout.weight_views(flat)],
                [b.copy() for b in self._layout.bias_views(flat)])

    def fit(self, X, y, epochs=10, batch_size=32, lr=0.01, momentum=0.9, shuffle=True, *,
            optimizer="momentum", beta_2=ADAM_BETA_2, epsilon=ADAM_EPSILON,
            sample_weight=None, class_weight=None, validation_data=None, patience=None,
            min_delta=0.0, verbose=False, callback=None, comm=None):
        """Mini-batch gradient descent; see the README.

        optimizer: "momentum" (v = m v + (1 - m) g; w -= lr v), "nesterov"
        (the same v; w -= lr (m v + (1 - m) g)) or "adam" (beta_1 =
        momentum, beta_2, epsilon added to the square root of the corrected
        second moment); its state persists across fit calls, and a fit with
        another optimizer starts it from zero (with a UserWarning).
        lr: a float, or a callable lr(epoch) -> float called before each
        epoch with len(history). sample_weight (n,) and class_weight (a dict
        {class: weight} or "balanced") weigh the rows of each batch's
        objective. verbose: print one line per epoch, from 1 (a live bar when
        stdout is a terminal; a last one when patience stops the fit).
        validation_data=(X_val, y_val): evaluate after every
        epoch; with patience, stop once the validation objective has not
        improved by more than min_delta for that many epochs and restore the
        best epoch's parameters and velocity (net.best_epoch). callback(net,
        metrics): called after every epoch with that epoch's metrics;
        returning False stops training. The metrics of each epoch are also
        appended to ``net.metrics``. comm: an mpi4py communicator for a
        data-parallel fit over its processes, each with its own rows
        (fastmlp.MLP only; fastmlp.training.mpi).
        """
        arguments = FitArguments(
            epochs=epochs, batch_size=batch_size, lr=lr, momentum=momentum, shuffle=shuffle,
            optimizer=optimizer, beta_2=beta_2, epsilon=epsilon, sample_weight=sample_weight,
            class_weight=class_weight, validation_data=validation_data, patience=patience,
            min_delta=min_delta, verbose=verbose, callback=callback)
        return self._fit_with(self._strategy(comm), X, y, arguments)

    def _strategy(self, comm):
        """fit's execution strategy for ``comm`` (fastmlp.training.strategy):
        SingleProcess for None, on one thread (this implementation's
        arithmetic is not the kernels'); any communicator is a TypeError
        here."""
        if comm is not None:
            raise TypeError(f"{type(self).__module__}.{type(self).__name__}.fit takes "
                            f"comm=None only (a data-parallel fit is fastmlp.MLP's)")
        return SingleProcess()

    def _fit_with(self, strategy, X, y, arguments):
        """fit(X, y, **arguments) run by ``strategy``."""
        settings, data = strategy.begin(self, X, y, arguments)
        self.n_threads_ = strategy.n_threads
        with strategy.running():
            try:
                self._train(settings, data, strategy)
            except DivergenceError:
                strategy.end(self)
                raise
            strategy.end(self)
        return self

    def _train(self, settings, data, strategy):
        """The training of a validated fit: its epochs, history, metrics,
        early stopping and callback."""
        s = settings
        self.best_epoch = None
        if self.feature_names is None and data.feature_names is not None:
            self.feature_names = data.feature_names
        if s.epochs == 0:
            return
        self._use_optimizer(s.optimizer)
        run = self._epoch_runner(data, s, strategy)
        order = identity = None
        if s.shuffle:
            # Generator.permutation(n) is arange(n) shuffled in place; doing
            # exactly that in one buffer per fit draws the same permutation
            # without allocating one per epoch.
            identity = np.arange(data.n_rows, dtype=np.intp)
            order = np.empty_like(identity)
        stopping = _EarlyStopping(self, s.patience, s.min_delta) if s.patience else None
        report = _progress.EpochReporter(s.epochs) if s.verbose else None
        for epoch in range(s.epochs):
            epoch_lr = None
            if s.schedule is not None:
                # Before the shuffle: a schedule that fails changes nothing.
                where = f"({len(self.history)}) returned by the schedule"
                epoch_lr = v.check_lr_value(s.schedule(len(self.history)), where)
            if s.shuffle:
                np.copyto(order, identity)
                self.rng.shuffle(order)
            started = time.perf_counter()
            self._run_and_record(run, order, epoch_lr)
            metrics = {"epoch": len(self.history) - 1, "objective": self.history[-1],
                       "seconds": time.perf_counter() - started}
            metrics["samples_per_second"] = strategy.epoch_rows / max(metrics["seconds"],
                                                                      1e-12)
            if s.validation is not None:
                metrics.update(self._validation_metrics(*s.validation))
            self.metrics.append(metrics)
            if report is not None:
                report.epoch_done(epoch, metrics)
            patience_ran_out = stopping is not None and stopping.epoch_done(metrics)
            if s.callback is not None and s.callback(self, metrics) is False:
                break
            if patience_ran_out:
                stopping.restore_best()
                if report is not None:
                    report.stopped_early(metrics["epoch"], stopping.best_epoch, stopping.best,
                                         stopping.patience, stopping.min_delta)
                break
        if report is not None:
            report.close()

    def _use_optimizer(self, optimizer):
        """Make `optimizer` the model's rule; another rule's state (velocity,
        second moment, step count) does not carry over: it restarts at 0."""
        if optimizer == self.optimizer:
            return
        if self.velocity.any() or self.optimizer_steps or (
                self.second_moment is not None and self.second_moment.any()):
            warnings.warn(f"fit(optimizer={optimizer!r}) after {self.optimizer!r}: the "
                          f"optimizer state (velocity, moments, step count) starts from "
                          f"zero", UserWarning, stacklevel=3)
        self.velocity[...] = 0
        self.optimizer_steps = 0
        self.second_moment = np.zeros_like(self.params) if optimizer == "adam" else None
        self.optimizer = optimizer

    def layer_stats(self, X, y=None):
        """Per-layer statistics of one forward (and, with y, backward) pass
        over the batch X: see fastmlp.network.stats.LayerStats. Changes nothing."""
        Xc = self._check_X(X)
        Y = None
        if y is not None:
            Y = v.check_y(y, Xc.shape[0], self.loss_name, self.layer_sizes[-1], self.dtype)
        table = self._layer_stats(Xc, Y)
        return _stats.LayerStats(self.layer_activations, self.layer_sizes, table)

    def _run_and_record(self, run, order, lr=None):
        """One epoch (at learning rate lr; None: the runner's own) and its
        history entry, as one unit: an interrupt that arrives after the
        kernel finished the epoch still records it."""
        epoch = len(self.history)
        objective = None
        try:
            objective = run(order) if lr is None else run(order, lr)
            self.history.append(float(objective))
        except DivergenceError as exc:
            raise DivergenceError(f"epoch {epoch}: {exc}", epoch=epoch,
                                  step=exc.step) from None
        except KeyboardInterrupt:
            if objective is not None and len(self.history) == epoch:
                self.history.append(float(objective))
            raise

    def _validation_metrics(self, Xv, Yv):
        # One pass gives both the objective and the outputs for accuracy.
        outputs = np.empty((Xv.shape[0], self.layer_sizes[-1]), dtype=self.dtype)
        out = {"val_loss": float(self._objective(Xv, Yv, outputs))}
        if self.loss_name == "cross_entropy":
            predicted = np.argmax(outputs, axis=1)
            labels = (np.asarray(Yv)[:, 0] if v.holds_class_indices(Yv)
                      else np.argmax(Yv, axis=1))
            out["val_accuracy"] = float(np.mean(predicted == labels))
        elif self.loss_name == "binary_cross_entropy":
            out["val_accuracy"] = float(np.mean((outputs > 0.5) == (Yv > 0.5)))
        return out

    def to_onnx(self):
        """The forward pass as an ``onnx.ModelProto``: input "X" (n, n0) and
        output "Y" (= ``forward(X)``) in the model dtype. Needs
        ``pip install "fastmlp[onnx]"``; see fastmlp.io.onnx."""
        from .io import onnx as _onnx
        return _onnx.to_onnx(self)

    # -- persistence (format and guarantees: fastmlp.io.persist) ---------------
    def save(self, path):
        """Write the model to ``path`` (exact name, atomically; no pickle)."""
        from .io import persist as _persist
        _persist.save(self, path)

    @classmethod
    def load(cls, path):
        """A new ``cls`` model from a file written by ``save``; a truncated,
        corrupted or tampered file raises ValueError."""
        from .io import persist as _persist
        return _persist.load(cls, path)
