"""Data-parallel fit over MPI: ``fastmlp.MLP.fit(X_local, y_local, comm=comm)``.

Every rank of an mpi4py communicator calls fit with its own rows and the
same arguments. This module does what only a data-parallel fit does, as
fit's execution strategy ``MpiRanks`` (fastmlp.training.strategy), which extends
the single-process one at the points where fit calls it:

- collective validation: every rank validates its own call, then one
  allgather of (error, arguments) lets every rank raise the same exception
  type when any rank's call is bad or the ranks' arguments differ; no rank
  has changed its model by then;
- rank 0's model (parameters, optimizer state, generator, history) is
  broadcast before training, and its generator again after it (a rank's
  shuffles draw from its own copy, as many values as it has rows), so the
  model is the same on every rank at the end;
- the epoch's steps: S = ceil(max_r n_r / batch_size) on every rank (1 for
  full batch), a rank with no rows left at a step contributing nothing;
- the reduction: each step's unnormalized gradient sum, rows, weight and
  loss sum in one MPI_Allreduce, made by the compiled epoch itself
  (reduced_step of _kernels/_steps.pxd) through the address of
  MPI_Allreduce in the MPI library mpi4py loaded (``allreduce_of``): the
  epoch stays one nogil call, with no GIL round trip per step, and the core
  never builds against MPI.

An exception on one rank only (a bug, Ctrl-C) leaves the others waiting in
their next collective; run scripts as ``mpiexec -n P python -m mpi4py
script.py``, whose handler of uncaught exceptions calls MPI_Abort and ends
every rank. mpi4py is imported only here, when a communicator is given.
"""
import contextlib
import ctypes
import math
import numbers
import os

import numpy as np

from ..execution import threads as _threads
from .errors import DivergenceError
from .strategy import SingleProcess

# Exception types a rank's failure is raised as on every rank (others:
# RuntimeError, whose message names the original type).
_COLLECTIVE_TYPES = {cls.__name__: cls for cls in (ValueError, TypeError, DivergenceError,
                                                   FloatingPointError, MemoryError)}
# fit options whose behaviour would differ per rank mid-fit (a collective
# decision each epoch): not supported with comm.
_UNSUPPORTED = ("validation_data", "patience", "callback")


class Reduction:
    """What the compiled epoch (fastmlp.training.epoch.EpochLoop) reduces each step
    through: the MPI_Allreduce (``allreduce_of``), and the steps of an
    epoch, the same on every rank."""

    def __init__(self, allreduce, n_steps):
        self.allreduce = allreduce
        self.n_steps = int(n_steps)


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError:
        raise ImportError('fit(comm=...) needs mpi4py: pip install "fastmlp[mpi]"') from None
    return MPI


def check_comm(comm):
    """comm as an intracommunicator of mpi4py; TypeError otherwise."""
    if not type(comm).__module__.startswith("mpi4py"):
        raise TypeError(f"comm must be an mpi4py communicator (mpi4py.MPI.Intracomm) or "
                        f"None, got {type(comm).__name__}")
    MPI = _mpi()
    if not isinstance(comm, MPI.Intracomm) or comm == MPI.COMM_NULL:
        raise TypeError(f"comm must be an mpi4py intracommunicator, got {comm!r}")
    return comm


def allreduce_of(comm):
    """The reduction the compiled epoch calls: MPI_Allreduce's address in the
    MPI library mpi4py loaded (looked up through mpi4py's extension module,
    whose dependencies include that library) and the handles of comm,
    MPI_SUM, MPI_FLOAT and MPI_DOUBLE, and MPI_IN_PLACE. MPI handles are
    ints in the MPICH ABI, pointers in Open MPI's."""
    MPI = _mpi()
    address = ctypes.cast(ctypes.CDLL(MPI.__file__).MPI_Allreduce, ctypes.c_void_p).value
    pointer_bits = 8 * ctypes.sizeof(ctypes.c_void_p)
    return {"address": address,
            "pointer_handles": MPI._sizeof(MPI.Comm) != ctypes.sizeof(ctypes.c_int),
            # The library's MPI_IN_PLACE ((void *) -1 in MPICH), as an address.
            "in_place": int(MPI.IN_PLACE) % (1 << pointer_bits),
            "comm": MPI._handleof(comm), "op_sum": MPI._handleof(MPI.SUM),
            "float32": MPI._handleof(MPI.FLOAT), "float64": MPI._handleof(MPI.DOUBLE)}


def _canonical(value):
    """A value as ranks compare it: numbers by value (0.1 and
    np.float64(0.1) agree), containers item by item, the rest by repr."""
    if isinstance(value, (bool, np.bool_)):
        return repr(bool(value))
    if isinstance(value, numbers.Integral):
        return repr(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_canonical(k)}: {_canonical(v)}" for k, v in
                               sorted(value.items(), key=lambda kv: repr(kv[0]))) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_canonical(v) for v in value) + "]"
    return repr(value)


def _arguments(net, arguments):
    """What must agree across ranks: the model's structure and fit's
    arguments (a FitArguments; a callable lr as "a callable"; sample
    weights by presence)."""
    out = {"layer_sizes": list(net.layer_sizes), "activations": list(net.layer_activations),
           "loss": net.loss_name, "dtype": net.dtype.name, "l2": net.l2,
           "matmul_dtype": getattr(net, "matmul_dtype", None)}
    for key, value in arguments.items():
        if key == "verbose":
            continue
        if key == "lr" and callable(value):
            value = "a callable"
        elif key == "sample_weight":
            value = "given" if value is not None else None
        out[key] = value
    return {key: _canonical(value) for key, value in out.items()}


def raise_collectively(comm, error, arguments=None):
    """One allgather of every rank's error (None when its call was good) and
    arguments; raises the same exception type on every rank if any rank
    failed or the arguments differ. Returns nothing when all is well."""
    mine = None if error is None else (type(error).__name__, str(error))
    gathered = comm.allgather((mine, arguments))
    failed = [(rank, e) for rank, (e, _) in enumerate(gathered) if e is not None]
    if failed:
        rank, (name, message) = failed[0]
        cls = _COLLECTIVE_TYPES.get(name, RuntimeError)
        shown = message if cls.__name__ == name else f"{name}: {message}"
        others = f" (and {len(failed) - 1} more ranks)" if len(failed) > 1 else ""
        exc = cls(f"rank {rank}{others}: {shown}")
        if error is not None:
            raise exc from error
        raise exc
    if arguments is None:
        return
    first = gathered[0][1]
    for rank, (_, theirs) in enumerate(gathered):
        differing = sorted(key for key in set(first) | set(theirs)
                           if theirs.get(key) != first.get(key))
        if differing:
            key = differing[0]
            raise ValueError(f"fit(comm=...) needs the same arguments on every rank: "
                             f"{key} is {first.get(key)} on rank 0 but "
                             f"{theirs.get(key)} on rank {rank}")


def agreed_schedule(comm, schedule):
    """A data-parallel fit's learning-rate schedule: each epoch's value is
    compared across ranks (one allgather per epoch), so that a schedule
    that fails or gives another value on one rank raises the same
    exception on every rank, instead of the ranks stepping apart or
    waiting in a reduction for a rank that is gone."""
    def lr(epoch):
        value = error = None
        try:
            value = schedule(epoch)
        except Exception as exc:
            error = exc
        raise_collectively(comm, error, {f"lr (the schedule's value at epoch {epoch})":
                                         _canonical(value)})
        return value
    return lr


# The model's metadata, rank 0's everywhere.
_METADATA = ("feature_names",)


def _model_state(net):
    state = {"params": net.params, "velocity": net.velocity,
             "second_moment": net.second_moment, "optimizer": net.optimizer,
             "optimizer_steps": net.optimizer_steps, "history": list(net.history),
             "rng": net.rng}
    state.update({key: getattr(net, key, None) for key in _METADATA})
    return state


def broadcast_model(comm, net):
    """Rank 0's parameters, optimizer state, generator, history and
    metadata on every rank (in place: the weight views stay valid)."""
    state = comm.bcast(_model_state(net) if comm.Get_rank() == 0 else None, root=0)
    if comm.Get_rank() == 0:
        return
    net.params[...] = state["params"]
    net.velocity[...] = state["velocity"]
    net.second_moment = (None if state["second_moment"] is None
                         else state["second_moment"].copy())
    net.optimizer = state["optimizer"]
    net.optimizer_steps = state["optimizer_steps"]
    net.history[:] = state["history"]
    net.rng = state["rng"]
    for key in _METADATA:
        setattr(net, key, state[key])


def strategy(comm, n_threads=1):
    """fit(comm=comm)'s execution strategy, each rank on the threads
    n_threads asks for (the model's request): MpiRanks over comm, or the
    single-process one for a communicator of one rank (whose fit is
    comm=None's, bit for bit). TypeError when comm is not a communicator."""
    comm = check_comm(comm)
    if comm.Get_size() == 1:
        return SingleProcess(n_threads)
    return MpiRanks(comm, n_threads)


def ranks_sharing_cores(comm):
    """How many ranks of comm on this node (this one included) may run on
    one of the cores of this rank's CPU affinity: all of the node's ranks
    when the launcher bound none, one when it bound each to its own cores.
    Collective."""
    MPI = _mpi()
    try:
        mine = frozenset(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        mine = None
    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        theirs = local.allgather(mine)
    finally:
        local.Free()
    if mine is None:
        return len(theirs)
    return sum(1 for cores in theirs if cores is None or cores & mine)


class MpiRanks(SingleProcess):
    """A data-parallel fit over the ranks of an mpi4py intracommunicator:
    every step's gradient summed over the ranks by the compiled epoch.
    Owns ``comm`` and, once ``begin`` has run, the reduction (a Reduction:
    MPI_Allreduce, the epoch's steps S on every rank), and the epoch's rows
    and weight over every rank (``epoch_rows``, ``total_weight``)."""

    def __init__(self, comm, requested=1):
        super().__init__(requested)
        self.comm = comm

    def begin(self, net, X, y, arguments):
        """Collective: validates every rank's call and compares the ranks'
        arguments (any failure raised on every rank, before any rank changes
        its model); agrees on the epoch's steps and weight; shares the
        node's cores among its ranks (automatic threads); wraps a schedule
        so its values agree; keeps verbose to rank 0; and copies rank 0's
        model to every rank. Returns (FitSettings, FitData) to train with."""
        comm = self.comm
        settings = data = error = None
        try:
            given = [key for key in _UNSUPPORTED if getattr(arguments, key) is not None]
            if given:
                raise ValueError(f"fit(comm=...) does not support {', '.join(given)}")
            settings, data = super().begin(net, X, y, arguments)
        except Exception as exc:
            error = exc
        raise_collectively(comm, error, _arguments(net, arguments))
        # Automatic threads: the cores of this rank's affinity shared with
        # the node's other ranks that may run on them (mpiexec does not
        # always bind ranks to cores), so the ranks of one node never ask
        # for more threads than it has cores.
        sharing = ranks_sharing_cores(comm)
        if self.requested is None:
            self.n_threads = max(1, min(self.n_threads, _threads.cores() // sharing))
        sizes = comm.allgather((self.epoch_rows, self.total_weight))
        n_steps = 1 if arguments.batch_size is None else math.ceil(
            max(n for n, _ in sizes) / arguments.batch_size)
        self.reduction = Reduction(allreduce_of(comm), n_steps)
        self.total_weight = sum(w for _, w in sizes)
        self.epoch_rows = sum(n for n, _ in sizes)
        if settings.schedule is not None:
            settings = settings.replace(lr=agreed_schedule(comm, settings.schedule))
        settings = settings.replace(verbose=settings.verbose and comm.Get_rank() == 0)
        broadcast_model(comm, net)
        return settings, data

    @contextlib.contextmanager
    def agreeing(self):
        """Around the making of the training buffers: the ranks agree on
        whether every rank made them, raising the same exception on every
        rank if one did not, so that no rank waits in the first step's
        reduction for one that is gone."""
        try:
            yield
        except Exception as exc:
            raise_collectively(self.comm, exc)
            raise
        raise_collectively(self.comm, None)

    def end(self, net):
        """Rank 0's generator on every rank (a rank's shuffles drew from its
        own copy, as many values as it has rows). Also after a divergence:
        raised on every rank at the same step, as the reduced objective or
        parameters that were not finite are the same everywhere."""
        net.rng = self.comm.bcast(net.rng if self.comm.Get_rank() == 0 else None, root=0)
