"""The workloads and the whole fits that benchmarks/all_cores.py times.

Every library trains the same network on the same float32 rows: ReLU hidden
layers, a softmax output with cross-entropy (mean over the batch), batches
of ``batch`` rows in a fresh shuffle every epoch (the last batch of an epoch
may be short), all epochs run, no L2 term, and the same update rule:

    momentum SGD, m = 0.9, "dampened":  v <- m v + (1 - m) g;  w <- w - lr v

That is fastmlp's ``optimizer="momentum"``. PyTorch's SGD gives it with
``dampening=m`` (its first step takes v = g), scikit-learn's sgd solver
(``u <- m u - lr' g; w <- w + u``, no Nesterov) with ``lr' = lr (1 - m)``,
which is the same recursion for u = -lr v; the JAX fit writes it out.
Momentum SGD rather than Adam: it is the cheaper update, so the timings
weigh the matrix products and the per-step overhead, which is what differs
between the libraries.

The timed unit is one whole fit: a fresh model (and optimizer), then every
epoch, until the last parameters are computed (JAX: ``block_until_ready``).
Converting the data to a library's own arrays is done once, before. The
child process that times a fit (``measure``) first runs one untimed fit
(libraries load their kernels, JAX compiles: compilation is excluded from
the timing because the timed fits are the second and later runs of the
same compiled epoch), then takes the best of ``fits`` timed fits.

Each library's fit is a ``Library`` entry of ``LIBRARIES``; one whose module
is missing reports why (``unavailable``) and is left out by the caller.
"""
import contextlib
import importlib
import importlib.util
import inspect
import time
import warnings
from dataclasses import dataclass

import numpy as np

SEED = 0
LR = 0.05
MOMENTUM = 0.9
N_CLASSES = 10
OPTIMIZER = {"rule": "momentum SGD (dampened): v = m v + (1 - m) g; w -= lr v",
             "lr": LR, "momentum": MOMENTUM,
             "sklearn": "solver='sgd', nesterovs_momentum=False, learning_rate_init=lr*(1-m)",
             "torch": "torch.optim.SGD(lr, momentum=m, dampening=m)"}


@dataclass(frozen=True)
class Workload:
    """One fit: the layer sizes, the rows (None: all of digits), the batch
    and the epochs; ``fits``: timed fits per child (the best is kept)."""
    name: str
    sizes: tuple
    batch: int
    epochs: int
    rows: int
    fits: int

    def describe(self):
        return {"sizes": list(self.sizes), "batch": self.batch, "epochs": self.epochs,
                "rows": self.rows if self.rows is not None else 1797,
                "data": "sklearn load_digits / 16" if self.name == "digits"
                else "seeded normal rows, labels of a random linear teacher"}


WORKLOADS = {w.name: w for w in [
    Workload("digits", (64, 64, 10), 32, 50, None, fits=3),
    Workload("medium", (784, 256, 128, 10), 128, 3, 20000, fits=2),
    Workload("wide", (1024, 2048, 2048, 10), 512, 1, 20480, fits=1),
]}

# --quick: the same code paths on tiny fits (the smoke test).
QUICK_WORKLOADS = {w.name: w for w in [
    Workload("digits", (64, 64, 10), 32, 2, None, fits=1),
    Workload("medium", (784, 64, 10), 128, 1, 1024, fits=1),
    Workload("wide", (1024, 128, 128, 10), 256, 1, 1024, fits=1),
]}


def workload(name, quick=False):
    return (QUICK_WORKLOADS if quick else WORKLOADS)[name]


def make_data(w):
    """(X float32 C-contiguous, y int64 class labels), the same for every library."""
    if w.name == "digits":
        from sklearn.datasets import load_digits
        X, y = load_digits(return_X_y=True)
        return np.ascontiguousarray(X / 16.0, dtype=np.float32), y.astype(np.int64)
    rng = np.random.default_rng(SEED)
    X = rng.standard_normal((w.rows, w.sizes[0]), dtype=np.float32)
    # Labels a network can learn (not noise), so every library's accuracy
    # after the fit says whether it really trained.
    teacher = rng.standard_normal((w.sizes[0], N_CLASSES), dtype=np.float32)
    return X, np.argmax(X @ teacher, axis=1).astype(np.int64)


# -- one class per library: prepare(w, X, y, threads) -> Fit ------------------

class Fit:
    """What the child times: ``run()`` is one whole fit and returns the
    model; ``predict(model, X)`` its class labels; ``knob`` names the
    thread setting this library was given (None at its defaults);
    ``threads_in_use(model)`` the library's own view of its thread count
    (None where it has none); ``context()`` is held around the fits."""

    def __init__(self, run, predict, knob=None, context=contextlib.nullcontext,
                 threads_in_use=lambda model: None):
        self.run, self.predict, self.knob, self.context = run, predict, knob, context
        self.threads_in_use = threads_in_use


def _threadpool_limited(threads):
    """A context limiting every pool threadpoolctl sees (BLAS and OpenMP)."""
    from threadpoolctl import threadpool_limits
    return lambda: threadpool_limits(threads)


def fastmlp_accepts_n_threads():
    import fastmlp
    return "n_threads" in inspect.signature(fastmlp.MLP).parameters


def _fastmlp(w, X, y, threads, bf16):
    import fastmlp
    options = dict(activation="relu", loss="cross_entropy", dtype="float32", seed=SEED)
    if bf16:
        options["matmul_dtype"] = "bfloat16"
    context, knob = contextlib.nullcontext, None
    if threads is not None:
        if fastmlp_accepts_n_threads():
            options["n_threads"], knob = threads, "fastmlp.MLP(n_threads=...)"
        else:
            context, knob = _threadpool_limited(threads), "threadpoolctl limits"

    def run():
        net = fastmlp.MLP(list(w.sizes), **options)
        return net.fit(X, y, epochs=w.epochs, batch_size=w.batch, lr=LR, momentum=MOMENTUM,
                       optimizer="momentum")

    return Fit(run, lambda net, X_: net.predict(X_), knob, context,
               lambda net: getattr(net, "n_threads", None))


def _torch(w, X, y, threads, bf16):
    import torch
    if threads is not None:
        torch.set_num_threads(threads)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    n = X.shape[0]

    def precision():
        return (torch.autocast("cpu", dtype=torch.bfloat16) if bf16
                else contextlib.nullcontext())

    def run():
        torch.manual_seed(SEED)
        layers = []
        for fan_in, fan_out in zip(w.sizes[:-1], w.sizes[1:]):
            layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
        model = torch.nn.Sequential(*layers[:-1])
        opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM,
                              dampening=MOMENTUM)
        loss_fn = torch.nn.CrossEntropyLoss()
        shuffle = torch.Generator().manual_seed(SEED)
        for _ in range(w.epochs):
            perm = torch.randperm(n, generator=shuffle)
            for start in range(0, n, w.batch):
                rows = perm[start:start + w.batch]
                opt.zero_grad(set_to_none=True)
                with precision():
                    loss = loss_fn(model(Xt[rows]), yt[rows])
                loss.backward()
                opt.step()
        return model

    def predict(model, X_):
        with torch.no_grad():
            return model(torch.from_numpy(X_)).argmax(dim=1).numpy()

    return Fit(run, predict, "torch.set_num_threads" if threads is not None else None,
               threads_in_use=lambda model: torch.get_num_threads())


def _jax_epoch(w, n):
    """The jitted epoch: a fresh permutation, a lax.scan over the full
    batches, then the short last batch (a static shape too)."""
    import jax
    import jax.numpy as jnp

    def logits(params, xb):
        h = xb
        for W, b in params[:-1]:
            h = jax.nn.relu(h @ W + b)
        W, b = params[-1]
        return h @ W + b

    def loss(params, xb, yb):
        logp = jax.nn.log_softmax(logits(params, xb))
        return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))

    def step(state, batch):
        params, velocity = state
        grads = jax.grad(loss)(params, *batch)
        velocity = jax.tree_util.tree_map(lambda v, g: MOMENTUM * v + (1 - MOMENTUM) * g,
                                          velocity, grads)
        params = jax.tree_util.tree_map(lambda p, v: p - LR * v, params, velocity)
        return (params, velocity), None

    full = n // w.batch * w.batch

    @jax.jit
    def epoch(state, key, X, y):
        perm = jax.random.permutation(key, n)
        Xs, ys = X[perm], y[perm]
        batches = (Xs[:full].reshape(-1, w.batch, X.shape[1]), ys[:full].reshape(-1, w.batch))
        state, _ = jax.lax.scan(step, state, batches)
        if full < n:
            state, _ = step(state, (Xs[full:], ys[full:]))
        return state

    return epoch, jax.jit(logits)


def _jax(w, X, y, threads, bf16):
    import jax
    import jax.numpy as jnp
    Xj, yj = jnp.asarray(X), jnp.asarray(y)
    epoch, logits = _jax_epoch(w, X.shape[0])

    def run():
        rng = np.random.default_rng(SEED)
        params = []
        for fan_in, fan_out in zip(w.sizes[:-1], w.sizes[1:]):
            bound = 1.0 / np.sqrt(fan_in)
            params.append((jnp.asarray(rng.uniform(-bound, bound, (fan_in, fan_out))
                                       .astype(np.float32)),
                           jnp.zeros(fan_out, dtype=jnp.float32)))
        state = (params, jax.tree_util.tree_map(jnp.zeros_like, params))
        key = jax.random.PRNGKey(SEED)
        for _ in range(w.epochs):
            key, sub = jax.random.split(key)
            state = epoch(state, sub, Xj, yj)
        return jax.block_until_ready(state[0])

    def predict(params, X_):
        return np.asarray(jnp.argmax(logits(params, jnp.asarray(X_)), axis=1))

    # JAX has no thread-count setting: its threads follow the affinity
    # (and XLA_FLAGS at one thread), both set by the parent.
    return Fit(run, predict, "affinity" if threads is not None else None)


def _sklearn(w, X, y, threads, bf16):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    params = dict(hidden_layer_sizes=tuple(w.sizes[1:-1]), activation="relu", solver="sgd",
                  alpha=0.0, batch_size=w.batch, learning_rate="constant",
                  learning_rate_init=LR * (1 - MOMENTUM), momentum=MOMENTUM,
                  nesterovs_momentum=False, max_iter=w.epochs, tol=0.0,
                  n_iter_no_change=w.epochs + 1, early_stopping=False, shuffle=True,
                  random_state=SEED)

    def run():
        with warnings.catch_warnings():
            # Raised at max_iter, which is the point here.
            warnings.simplefilter("ignore", ConvergenceWarning)
            return MLPClassifier(**params).fit(X, y)

    context = _threadpool_limited(threads) if threads is not None else contextlib.nullcontext
    return Fit(run, lambda est, X_: est.predict(X_),
               "threadpoolctl limits" if threads is not None else None, context)


@dataclass(frozen=True)
class Library:
    name: str
    label: str
    module: str       # what must be importable
    prepare: object   # (w, X, y, threads) -> Fit
    version: object   # () -> str

    def unavailable(self):
        """Why this library cannot run here (a sentence), or None."""
        if importlib.util.find_spec(self.module) is None:
            return f"{self.module} is not installed"
        if self.name == "fastmlp_bf16":
            return _bf16_unavailable()
        return None


def _bf16_unavailable():
    try:
        import fastmlp
        fastmlp.MLP([2, 2], matmul_dtype="bfloat16")
    except ImportError as exc:
        return f"no bfloat16 GEMM library ({exc})"
    return None


def _version(module, attribute="__version__"):
    return lambda: str(getattr(importlib.import_module(module), attribute))


def _fastmlp_bf16_version():
    from fastmlp.network import bf16lib
    import fastmlp
    return f"{fastmlp.__version__} (bf16 GEMM: {bf16lib.library()[0]})"


def _jax_version():
    import jax
    import jaxlib
    return f"jax {jax.__version__}, jaxlib {jaxlib.__version__}"

LIBRARIES = {lib.name: lib for lib in [
    Library("fastmlp", "fastmlp f32", "fastmlp",
            lambda *a: _fastmlp(*a, bf16=False), _version("fastmlp")),
    Library("fastmlp_bf16", "fastmlp bf16", "fastmlp",
            lambda *a: _fastmlp(*a, bf16=True), _fastmlp_bf16_version),
    Library("torch", "PyTorch f32", "torch",
            lambda *a: _torch(*a, bf16=False), _version("torch")),
    Library("torch_bf16", "PyTorch bf16 autocast", "torch",
            lambda *a: _torch(*a, bf16=True), _version("torch")),
    Library("jax", "JAX jit", "jax", lambda *a: _jax(*a, bf16=False), _jax_version),
    Library("sklearn", "scikit-learn", "sklearn",
            lambda *a: _sklearn(*a, bf16=False), _version("sklearn")),
]}


# -- the child's measurement ----------------------------------------------------

def blas_report():
    """threadpoolctl's view of the loaded BLAS and OpenMP libraries, in force now."""
    import os
    from threadpoolctl import threadpool_info
    keys = ("user_api", "internal_api", "architecture", "num_threads", "version", "prefix")
    # The folder tells numpy's OpenBLAS (numpy.libs) from scipy's (scipy.libs:
    # fastmlp's kernels) and from the ones torch or scikit-learn bring.
    return [{**{k: lib.get(k) for k in keys},
             "folder": os.path.basename(os.path.dirname(lib.get("filepath") or ""))}
            for lib in threadpool_info()]


def time_fits(fit, count, clock=time.perf_counter):
    """Seconds of ``count`` whole fits, one after the other, and the last model."""
    seconds, model = [], None
    for _ in range(count):
        start = clock()
        model = fit.run()
        seconds.append(clock() - start)
    return seconds, model


def measure(library, w, threads, fits=None, before_timing=None):
    """One warm-up fit, then ``fits`` timed fits (the workload's default
    when None) of ``library`` on ``w``: a dict of the timings, the thread
    settings in force and the training accuracy of the last fit.
    ``before_timing()``, if given, is called between warm-up and timing
    (the side-by-side ceiling measurement waits there for its partner)."""
    X, y = make_data(w)
    fit = LIBRARIES[library].prepare(w, X, y, threads)
    with fit.context():
        fit.run()
        if before_timing is not None:
            before_timing()
        started = time.clock_gettime(time.CLOCK_MONOTONIC)
        seconds, model = time_fits(fit, fits or w.fits)
        ended = time.clock_gettime(time.CLOCK_MONOTONIC)
        pools = blas_report()
        in_use = fit.threads_in_use(model)
    accuracy = float(np.mean(np.asarray(fit.predict(model, X)) == y))
    return {"seconds": seconds, "best": min(seconds), "span": [started, ended],
            "knob": fit.knob, "library_threads": in_use, "pools": pools,
            "train_accuracy": accuracy}
