"""bfloat16 products: whole-epoch time of fastmlp float32, fastmlp bfloat16,
PyTorch float32 and PyTorch bfloat16 autocast, and the bfloat16 GEMM floor.

Shared by ``benchmarks/test_bf16.py`` (pytest-benchmark) and
``benchmarks/bf16_report.py`` (the interleaved report with the targets).
Every kind trains the same network on the same rows (ReLU hidden layers,
softmax cross-entropy, batches of ``batch`` rows, momentum SGD), one epoch
per call:

- ``fastmlp_f32`` / ``fastmlp_bf16``: fit's own epoch object
  (``EpochLoop``, as ``fastmlp.cli.bench``), a fresh permutation per epoch;
- ``floor_f32`` / ``floor_bf16``: only the GEMMs of the same steps
  (``_probes.gemm_floor`` on each loop's own spec), the floor a step cannot
  go below; step minus floor is the time of everything else (the
  elementwise passes, and with bfloat16 the conversions fused into them);
- ``torch_f32`` / ``torch_bf16``: ``torch.nn`` Linear/ReLU layers,
  ``CrossEntropyLoss``, ``torch.optim.SGD(momentum=0.9)``, the rows of each
  batch indexed by a fresh ``randperm``; bf16 runs the forward pass and loss
  under ``torch.autocast("cpu", dtype=torch.bfloat16)`` (PyTorch's own mixed
  precision: bfloat16 GEMMs through oneDNN, float32 master weights).
  PyTorch is a benchmark-only dependency (``pip install torch==2.13.0``):
  without it those kinds are left out.

One thread for everything: threadpoolctl's limit on every BLAS (MKL's
sequential layer is one thread anyway) and ``torch.set_num_threads(1)``.
"""
import numpy as np

from fastmlp import MLP
from fastmlp.cli.bench import Config
from fastmlp.training.settings import FitData, fit_settings
from fastmlp._kernels import _probes, _train
from fastmlp.inputs.validation import check_X, check_y

LR = 1e-3
MOMENTUM = 0.9


CONFIGS = {c.name: c for c in [
    Config("medium", (784, 512, 256, 10), 256, steps=16),
    # The measurement: one epoch of 4096 rows.
    Config("large", (1024, 2048, 2048, 10), 512, steps=8),
]}

FASTMLP_KINDS = ("fastmlp_f32", "fastmlp_bf16", "floor_f32", "floor_bf16")
TORCH_KINDS = ("torch_f32", "torch_bf16")


def torch_or_none():
    try:
        import torch
    except ImportError:
        return None
    return torch


def kinds():
    return FASTMLP_KINDS + (TORCH_KINDS if torch_or_none() is not None else ())


def make_data(cfg, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((cfg.n, cfg.sizes[0])).astype(np.float32)
    y = rng.integers(0, cfg.sizes[-1], cfg.n)
    return X, y


def _fastmlp(cfg, X, y, matmul_dtype):
    net = MLP(list(cfg.sizes), activation="relu", loss="cross_entropy", seed=0,
              matmul_dtype=matmul_dtype)
    Xc = check_X(X, cfg.sizes[0], net.dtype)
    Y = check_y(y, cfg.n, "cross_entropy", cfg.sizes[-1], net.dtype)
    loop = net._epochs(FitData(Xc, Y, None), fit_settings(net, Xc, y, cfg.batch, MOMENTUM))
    rng = net.rng

    def epoch():
        return loop.run(rng.permutation(cfg.n), LR)

    grads = np.zeros_like(net.params)

    def floor():
        return _probes.gemm_floor(loop.spec, net.params, grads, Xc, loop.work, cfg.batch,
                                  cfg.steps)

    return epoch, floor


def _torch(cfg, X, y, autocast):
    torch = torch_or_none()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(zip(cfg.sizes[:-1], cfg.sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(cfg.sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def epoch():
        perm = torch.randperm(cfg.n)
        for s in range(cfg.steps):
            idx = perm[s * cfg.batch:(s + 1) * cfg.batch]
            xb, yb = Xt[idx], yt[idx]
            opt.zero_grad(set_to_none=True)
            if autocast:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    loss = loss_fn(model(xb), yb)
            else:
                loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()

    return epoch


def build(cfg):
    """{kind: callable running one epoch} for every available kind."""
    X, y = make_data(cfg)
    out = {}
    out["fastmlp_f32"], out["floor_f32"] = _fastmlp(cfg, X, y, None)
    out["fastmlp_bf16"], out["floor_bf16"] = _fastmlp(cfg, X, y, "bfloat16")
    if torch_or_none() is not None:
        out["torch_f32"] = _torch(cfg, X, y, False)
        out["torch_bf16"] = _torch(cfg, X, y, True)
    return out
