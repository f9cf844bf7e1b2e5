"""Why Xavier and He initialization: variances through a deep network.

Reproduces the analysis behind Xavier/Glorot (Glorot & Bengio, 2010) and He
(He et al., 2015) initialization with ``net.layer_stats``: one forward and
backward pass of a deep, untrained network over a fixed random batch, with
the per-layer variances computed by the kernels.

For a layer z = W a with n inputs and W ~ N(0, s^2), Var(z) = n s^2 E[a^2].
- tanh is ~linear near 0, so E[a^2] ~ Var(z): the variance is multiplied by
  n s^2 per layer. Xavier (s^2 = 1/n) keeps it ~constant (tanh's curvature
  makes it shrink slowly); half the std multiplies it by 1/4 per layer (it
  collapses); twice the std saturates the units instead (tanh is bounded),
  and the backpropagated gradients grow toward the input (chaotic regime).
- relu zeroes half of a symmetric z, so E[a^2] = Var(z) / 2 and the factor
  per layer is n s^2 / 2: He (s^2 = 2/n) keeps it constant, Xavier halves it
  every layer, 0.5 x He divides it by 4 and 2 x He multiplies it by 4.
The backpropagated deltas dObj/dz follow the same factors from the output
back to the input. The weight gradients dObj/dW = delta a^T multiply a
forward and a backward product, so with equal widths their variance is
about the same at every depth (Glorot & Bengio's observation) but its level
is off by (n s^2 / gain)^(depth - 1) for a mis-scaled network.

Networks: ``--depth`` hidden layers of ``--width`` units (tanh, and relu),
a softmax output over 10 classes with cross_entropy, on 512 standard normal
inputs with random labels. Inits: xavier, glorot, he (the schemes of
fastmlp.MLP, for every layer), and the matched scheme (xavier for tanh, he
for relu) with every hidden layer's weights scaled by 0.5 ("too small") or
2 ("too large") after construction; biases are zero.

    python examples/init_variance.py [--out init_variance.png] [--depth 15]
                                     [--width 256] [--seed 0]

prints the tables and writes the figure (matplotlib needed for the figure:
``pip install fastmlp[plot]``; ``--no-plot`` skips it). tests/test_init_analysis.py
imports these functions and checks the qualitative results.
"""
import argparse
import sys

import numpy as np

import fastmlp

INITS = ("xavier", "glorot", "he", "too small", "too large")
SCALES = {"too small": 0.5, "too large": 2.0}
MATCHED = {"tanh": "xavier", "relu": "he"}
QUANTITIES = {
    "act_var": "activation variance",
    "delta_var": "backpropagated gradient (delta) variance",
    "grad_var": "weight-gradient variance",
}
N_CLASSES = 10


def init_label(activation, init):
    """Display name: the scaled inits name their base scheme."""
    if init in SCALES:
        return f"{SCALES[init]:g} x {MATCHED[activation]}"
    return init


def make_batch(n=512, width=256, n_classes=N_CLASSES, seed=0):
    """Standard normal inputs (n, width) and uniformly random labels."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, width)), rng.integers(0, n_classes, n)


def build(activation, init, depth=15, width=256, n_classes=N_CLASSES, seed=0,
          cls=fastmlp.MLP, dtype="float32"):
    """A ``depth``-hidden-layer network initialized with ``init`` (one of
    INITS): the scheme for every layer, then for "too small"/"too large" the
    hidden weights scaled in place by 0.5/2 (the output layer is left
    as the scheme made it)."""
    scheme = MATCHED[activation] if init in SCALES else init
    net = cls([width] * (depth + 1) + [n_classes], activation=activation,
              loss="cross_entropy", init=scheme, dtype=dtype, seed=seed)
    for l in range(depth):
        net.weights[l][...] *= SCALES.get(init, 1.0)
    return net


def profile(net, X, y):
    """Per hidden layer (1..depth): variances of the activations, of the
    deltas dObj/dz and of the weight gradient dObj/dW of the weights into
    that layer, from one pass of ``net.layer_stats``."""
    stats = net.layer_stats(X, y)
    depth = len(stats) - 1
    return {name: stats.column(name)[:depth] for name in QUANTITIES}


def ratios(prof):
    """How the variances change across the hidden layers: activations last
    over first (forward), deltas and weight gradients first over last
    (backward, toward the input)."""
    return {
        "act_var": float(prof["act_var"][-1] / prof["act_var"][0]),
        "delta_var": float(prof["delta_var"][0] / prof["delta_var"][-1]),
        "grad_var": float(prof["grad_var"][0] / prof["grad_var"][-1]),
    }


def analyze(activations=("tanh", "relu"), depth=15, width=256, n=512, seed=0,
            cls=fastmlp.MLP):
    """{activation: {init: profile}} on one batch, every network built with
    the same seed (so the scaled inits have the same weight directions)."""
    X, y = make_batch(n, width, seed=seed)
    return {act: {init: profile(build(act, init, depth, width, seed=seed + 1, cls=cls), X, y)
                  for init in INITS}
            for act in activations}


def format_tables(activation, profiles):
    """The per-layer tables of one network and its summary of ratios."""
    labels = [init_label(activation, init) for init in INITS]
    depth = len(next(iter(profiles.values()))["act_var"])
    lines = []
    for name in ("act_var", "grad_var"):
        lines.append(f"{activation} network, {QUANTITIES[name]} per hidden layer")
        lines.append(f"{'layer':>5} " + " ".join(f"{lab:>12}" for lab in labels))
        for l in range(depth):
            cells = " ".join(f"{profiles[init][name][l]:>12.3e}" for init in INITS)
            lines.append(f"{l + 1:>5} {cells}")
        lines.append("")
    lines.append(f"{activation} network, ratios across the {depth} hidden layers")
    lines.append(f"{'':>24} " + " ".join(f"{lab:>12}" for lab in labels))
    heads = {"act_var": "activation last/first", "delta_var": "delta first/last",
             "grad_var": "weight grad first/last"}
    table = {init: ratios(profiles[init]) for init in INITS}
    for name, head in heads.items():
        lines.append(f"{head:>24} " + " ".join(f"{table[i][name]:>12.3e}" for i in INITS))
    return "\n".join(lines)


def plot(results, out, title=None):
    """Three rows (activation, delta and weight-gradient variance against
    the hidden layer, log scale), one column per network, one line per init."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.backends.backend_agg import FigureCanvasAgg
    except ImportError as exc:
        raise ImportError("the figure needs matplotlib: pip install fastmlp[plot]") from exc
    acts = list(results)
    fig = Figure(figsize=(6 * len(acts), 11), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(QUANTITIES), len(acts), squeeze=False, sharex=True)
    styles = {"xavier": "-", "glorot": ":", "he": "-", "too small": "--", "too large": "--"}
    for col, act in enumerate(acts):
        for row, name in enumerate(QUANTITIES):
            ax = axes[row][col]
            for k, init in enumerate(INITS):
                values = results[act][init][name]
                layers = np.arange(1, len(values) + 1)
                matched = init == MATCHED[act]
                ax.semilogy(layers, values, styles[init], color=f"C{k}", marker="o",
                            markersize=3, linewidth=2.5 if matched else 1.5,
                            label=init_label(act, init) + (" (matched)" if matched else ""))
            ax.set_title(f"{act}: {QUANTITIES[name]}", fontsize=10)
            ax.grid(True, which="major", alpha=0.3)
            if row == len(QUANTITIES) - 1:
                ax.set_xlabel("hidden layer")
            if col == 0:
                ax.set_ylabel("variance")
        axes[0][col].legend(fontsize=8)
    fig.suptitle(title or "Variance through depth at initialization")
    fig.tight_layout()
    fig.savefig(out, format="png")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="init_variance.png", help="PNG to write")
    parser.add_argument("--depth", type=int, default=15, help="hidden layers")
    parser.add_argument("--width", type=int, default=256, help="units per layer (and inputs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=512, help="rows of the random batch")
    parser.add_argument("--no-plot", action="store_true", help="print the tables only")
    args = parser.parse_args(argv)
    if args.depth < 2 or args.width < 1 or args.batch < 2:
        parser.error("need --depth >= 2, --width >= 1 and --batch >= 2")

    results = analyze(depth=args.depth, width=args.width, n=args.batch, seed=args.seed)
    print(f"{args.depth} hidden layers of {args.width} units, batch {args.batch} x "
          f"{args.width} standard normal, random labels, cross_entropy over {N_CLASSES} "
          f"classes, seed {args.seed}\n")
    for act, profiles in results.items():
        print(format_tables(act, profiles))
        print()
    if args.no_plot:
        return 0
    try:
        plot(results, args.out, title=(
            f"Variance through {args.depth} hidden layers of {args.width} units at "
            f"initialization (batch {args.batch}, seed {args.seed})"))
    except ImportError as exc:
        print(f"no figure: {exc}", file=sys.stderr)
        return 1
    print(f"figure written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
