"""The training options of ``fastmlp train`` that fit takes (--optimizer,
--beta-2, --lr-schedule, --class-weight, --patience, --min-delta), its
defaults, and its validation split class by class.

Each option is checked where it ends up: the model the command saves must
be, parameter for parameter, the model ``fastmlp.MLP.fit`` gives with the
options as fit's arguments, on the rows the command's split
(fastmlp.cli.splits) holds out, standardized as the saved model says. The
command runs in this process (``fastmlp.cli.main``)."""
import math
import re

import numpy as np
import pytest

import fastmlp
from fastmlp.cli import fit_options, main, schedules
from fastmlp.cli.parser import DEFAULT_PATIENCE, command_parser
from fastmlp.cli.splits import validation_split


def write_csv(path, X, y, target="label"):
    names = [f"x{j}" for j in range(X.shape[1])]
    with open(path, "w") as f:
        f.write(",".join(names + [target]) + "\n")
        for xi, yi in zip(X, y):
            f.write(",".join(repr(float(v)) for v in xi) + f",{yi}\n")


def classes_data(n=150, seed=0, labels=(1, 2, 3), weights=(0.6, 0.3, 0.1)):
    """Three overlapping, unbalanced classes with labels ``labels``."""
    rng = np.random.default_rng(seed)
    codes = rng.choice(len(labels), size=n, p=weights)
    X = rng.normal(size=(n, 4)) + 1.5 * np.eye(4)[codes] * 3 + [10, -5, 0, 100]
    return X, np.array(labels, dtype=object)[codes], codes


def train(tmp_path, data, *options, capsys=None):
    """Run fastmlp train on ``data`` quietly; the saved model (a TabularModel)."""
    model = tmp_path / "m.npz"
    status = main(["train", str(data), "--quiet", "--save", str(model), *map(str, options)])
    assert status == 0
    return fastmlp.load(model)


def direct_fit(net, X, codes, loss="cross_entropy", seed=0, val_fraction=0.2,
               stratify=True, **fit_kwargs):
    """fastmlp.MLP.fit as the command should have called it for ``net``."""
    Xs = net.preprocessor.transform(X)          # net: the command's TabularModel
    net = net.network
    train_idx, val_idx = validation_split(len(X), val_fraction, seed,
                                          codes if stratify else None)
    ref = fastmlp.MLP(list(net.layer_sizes), loss=loss, seed=seed)
    validation = (Xs[val_idx], codes[val_idx]) if len(val_idx) else None
    ref.fit(Xs[train_idx], codes[train_idx], validation_data=validation, **fit_kwargs)
    return ref


def assert_same_model(net, ref):
    assert len(net.history) == len(ref.history)
    np.testing.assert_array_equal(net.params, ref.params)


# -- the options reach fit --------------------------------------------------------

OPTION_CASES = {
    "nesterov, step schedule, class weights, patience": (
        ["--optimizer", "nesterov", "--momentum", "0.8", "--lr", "0.02", "--lr-schedule",
         "step:2:0.5", "--class-weight", "1=2,3=0.5", "--patience", "3", "--min-delta",
         "0.001", "--epochs", "15", "--batch-size", "16"],
        dict(optimizer="nesterov", momentum=0.8, lr=lambda e: 0.02 * 0.5 ** (e // 2),
             class_weight={0: 2.0, 2: 0.5}, patience=3, min_delta=0.001, epochs=15,
             batch_size=16)),
    "adam, beta_2, cosine schedule, balanced, no early stopping": (
        ["--optimizer", "adam", "--beta-2", "0.99", "--lr", "0.01", "--lr-schedule",
         "cosine:10:0.001", "--class-weight", "balanced", "--patience", "0",
         "--epochs", "12"],
        dict(optimizer="adam", beta_2=0.99, lr=lambda e: 0.001 + 0.009 * (
            1 + math.cos(math.pi * e / 10)) / 2, class_weight="balanced", epochs=12,
             batch_size=32, momentum=0.9)),
    "momentum, exponential schedule": (
        ["--optimizer", "momentum", "--lr", "0.05", "--lr-schedule", "exponential:0.8",
         "--epochs", "8", "--batch-size", "full"],
        dict(optimizer="momentum", lr=lambda e: 0.05 * 0.8 ** e, epochs=8, batch_size=None,
             momentum=0.9, patience=DEFAULT_PATIENCE)),
    "adam epsilon, rows in the file's order": (
        ["--epsilon", "1e-3", "--no-shuffle", "--epochs", "4", "--patience", "0"],
        dict(optimizer="adam", lr=0.003, epsilon=1e-3, shuffle=False, epochs=4,
             batch_size=32, momentum=0.9)),
    "the defaults": (
        [],
        dict(optimizer="adam", lr=0.003, epochs=300, batch_size=32, momentum=0.9,
             beta_2=0.999, patience=20, min_delta=0.0)),
}


@pytest.mark.parametrize("case", list(OPTION_CASES))
def test_training_options_reach_fit(tmp_path, case):
    options, fit_kwargs = OPTION_CASES[case]
    X, y, codes = classes_data()
    write_csv(tmp_path / "d.csv", X, y)
    net_model = train(tmp_path, tmp_path / "d.csv", *options)
    net = net_model.network
    assert tuple(net_model.classes_) == (1, 2, 3)
    assert_same_model(net, direct_fit(net_model, X, codes, **fit_kwargs))


def test_class_weight_is_in_the_datas_own_labels(tmp_path):
    X, y, codes = classes_data(labels=("setosa", "versicolor", "virginica"))
    write_csv(tmp_path / "d.csv", X, y, target="species")
    net_model = train(tmp_path, tmp_path / "d.csv", "--class-weight", "virginica=4,setosa=0.25",
                      "--epochs", "5")
    net = net_model.network
    assert_same_model(net, direct_fit(net_model, X, codes, class_weight={2: 4.0, 0: 0.25},
                                      optimizer="adam", lr=0.003, epochs=5,
                                      patience=DEFAULT_PATIENCE))
    # Not the same model as without the weights.
    plain_model = train(tmp_path, tmp_path / "d.csv", "--epochs", "5")
    plain = plain_model.network
    assert not np.array_equal(plain.params, net.params)


def test_binary_class_weight_and_split(tmp_path):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(120, 3))
    y = (X[:, 0] + 0.5 * rng.normal(size=120) > 0.9).astype(np.int64)   # about 1 in 5
    np.savez(tmp_path / "b.npz", X=X, y=y)
    net_model = train(tmp_path, tmp_path / "b.npz", "--loss", "binary_cross_entropy",
                      "--class-weight", "0=1,1=4", "--epochs", "6")
    net = net_model.network
    ref = direct_fit(net_model, X, y.astype(float), loss="binary_cross_entropy",
                     class_weight={0: 1.0, 1: 4.0}, epochs=6, lr=0.003, optimizer="adam",
                     patience=DEFAULT_PATIENCE)
    assert_same_model(net, ref)


def test_early_stopping_keeps_the_best_epoch(tmp_path):
    # Labels with nothing to learn: the validation objective soon rises.
    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 6))
    y = rng.integers(0, 2, 200)
    write_csv(tmp_path / "noise.csv", X, y)
    net_model = train(tmp_path, tmp_path / "noise.csv", "--patience", "4", "--lr", "0.05",
                      "--epochs", "200")
    net = net_model.network
    ref = direct_fit(net_model, X, y, patience=4, lr=0.05, epochs=200, optimizer="adam")
    assert_same_model(net, ref)
    assert len(net.history) < 200
    # Stopped 4 epochs after the best one, whose model it kept.
    assert ref.best_epoch == len(ref.history) - 5
    val_losses = [m["val_loss"] for m in ref.metrics]
    assert ref.best_epoch == int(np.argmin(val_losses))


# -- refusals ------------------------------------------------------------------------

def run_error(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastmlp: error: "), err
    return status, out, lines[0]


@pytest.mark.parametrize("options, expected", [
    (["--patience", "3", "--val-fraction", "0"],
     ["--patience 3", "--val-fraction 0 holds out no validation rows"]),
    (["--class-weight", "7=2"], ["--class-weight: '7' is not a class of", "1, 2, 3"]),
    (["--class-weight", "1=2,1=3"], ["gives the class 1 twice"]),
    (["--class-weight", "1:2"], ["--class-weight", "LABEL=WEIGHT"]),
    (["--class-weight", "1=-2"], ["--class-weight", "the weight of '1'", ">= 0"]),
    (["--class-weight", "balanced", "--loss", "mse"],
     ["--class-weight applies to --loss cross_entropy or binary_cross_entropy, not mse"]),
    (["--lr-schedule", "cosine:5", "--epochs", "8"],
     ["--lr-schedule cosine:5", "epoch 5", "would be 0"]),
    (["--lr-schedule", "exponential:1e-300", "--epochs", "3"],
     ["--lr-schedule exponential:1e-300", "epoch 2"]),
    (["--lr-schedule", "cosine"], ["--lr-schedule", "cosine:T_MAX[:ETA_MIN]"]),
    (["--lr-schedule", "linear:3"], ["--lr-schedule", "unknown schedule 'linear'"]),
    (["--lr-schedule", "step:1.5:0.5"], ["STEP_SIZE must be a positive integer"]),
    (["--optimizer", "sgd"], ["--optimizer", "'sgd'"]),
    (["--beta-2", "1"], ["--beta-2", "[0, 1)"]),
    (["--patience", "-1"], ["--patience", ">= 0"]),
    (["--min-delta", "nan"], ["--min-delta"]),
])
def test_bad_training_options_are_one_line_exit_2(tmp_path, capsys, options, expected):
    X, y, _ = classes_data(40)
    write_csv(tmp_path / "d.csv", X, y)
    status, out, line = run_error(capsys, "train", tmp_path / "d.csv", *options)
    assert status == 2
    for text in expected:
        assert text in line, (text, line)
    assert not re.search(r"^epoch\s+\d", out, re.M), out     # refused before training


def test_class_weight_of_several_binary_outputs_is_refused(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "ml.npz", X=rng.normal(size=(30, 3)),
             y=rng.integers(0, 2, (30, 2)).astype(float))
    status, _, line = run_error(capsys, "train", tmp_path / "ml.npz", "--loss",
                                "binary_cross_entropy", "--class-weight", "balanced")
    assert status == 2 and "multi-label" in line


# -- defaults ------------------------------------------------------------------------

def test_defaults():
    args = command_parser("fastmlp", "train").parse_args(["d.csv"])
    assert (args.epochs, args.batch_size, args.optimizer, args.lr, args.momentum,
            args.beta_2, args.min_delta) == (300, 32, "adam", 0.003, 0.9, 0.999, 0.0)
    assert args.lr_schedule.constant and args.class_weight is None
    # Early stopping by default with a validation split, none without one.
    assert fit_options.patience(args) == DEFAULT_PATIENCE == 20
    args.val_fraction = 0
    assert fit_options.patience(args) is None
    args.patience = 0
    assert fit_options.patience(args) is None
    help_text = command_parser("fastmlp", "train").format_help()
    for text in ("(default: 300)", "(default: adam)", "(default: 0.003)",
                 "default: 20 with one"):
        assert text in " ".join(help_text.split()), text


def test_patience_zero_trains_every_epoch(tmp_path):
    rng = np.random.default_rng(2)
    write_csv(tmp_path / "noise.csv", rng.normal(size=(80, 3)), rng.integers(0, 2, 80))
    net_model = train(tmp_path, tmp_path / "noise.csv", "--patience", "0", "--lr", "0.05",
                      "--epochs", "40")
    net = net_model.network
    assert len(net.history) == 40


# -- the validation split ------------------------------------------------------------

def test_classifiers_hold_out_each_class_share(tmp_path, capsys):
    # 4 classes of 3 rows: 1 of each held out (4 rows), where a plain split of
    # 12 rows would hold out round(2.4) = 2 and leave classes out.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 2))
    y = np.repeat(["a", "b", "c", "d"], 3)
    write_csv(tmp_path / "d.csv", X, y)
    assert main(["train", str(tmp_path / "d.csv"), "--quiet", "--epochs", "1"]) == 0
    assert "8 training and 4 validation rows" in capsys.readouterr().out
    # Regression keeps the plain random split.
    write_csv(tmp_path / "r.csv", X, np.arange(12.0))
    assert main(["train", str(tmp_path / "r.csv"), "--quiet", "--epochs", "1", "--loss",
                 "mse"]) == 0
    assert "10 training and 2 validation rows" in capsys.readouterr().out


def test_split_of_the_command(tmp_path):
    from fastmlp.cli.training import _split

    args = command_parser("fastmlp", "train").parse_args(["d.csv", "--seed", "3"])
    codes = np.repeat([0, 1, 2], [90, 30, 5])
    train_idx, val_idx = _split(args, len(codes), "d.csv", codes)
    np.testing.assert_array_equal(np.bincount(codes[val_idx]), [18, 6, 1])
    again = _split(args, len(codes), "d.csv", codes)
    np.testing.assert_array_equal(again[1], val_idx)
    # Without classes: the plain split, as before.
    from fastmlp.datasets import train_test_split_indices
    plain = _split(args, len(codes), "d.csv")
    np.testing.assert_array_equal(plain[1], train_test_split_indices(125, 0.2, 3)[1])


# -- --lr-schedule ---------------------------------------------------------------------

def _closed_form(kind, lr, params, epoch):
    if kind == "constant":
        return lr
    if kind == "step":
        step_size, gamma = params
        return lr * gamma ** (epoch // step_size)
    if kind == "exponential":
        return lr * params[0] ** epoch
    t_max, eta_min = (params + (0.0,))[:2]
    return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * epoch / t_max)) / 2


def _torch_rates(text, lr, epochs):
    """The learning rate of each epoch of torch's scheduler stepped once per
    epoch, or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    kind, *values = text.split(":")
    param = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    optimizer = torch.optim.SGD([param], lr=lr)
    s = torch.optim.lr_scheduler
    scheduler = {"constant": lambda: s.LambdaLR(optimizer, lambda e: 1.0),
                 "step": lambda: s.StepLR(optimizer, int(values[0]), float(values[1])),
                 "exponential": lambda: s.ExponentialLR(optimizer, float(values[0])),
                 "cosine": lambda: s.CosineAnnealingLR(
                     optimizer, int(values[0]), float(values[1]) if len(values) > 1 else 0.0),
                 }[kind]()
    rates = []
    for _ in range(epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


@pytest.mark.parametrize("text", ["constant", "step:3:0.5", "step:1:0.9", "exponential:0.9",
                                  "exponential:1.05", "cosine:10", "cosine:7:0.001",
                                  "cosine:1:0.01"])
def test_schedules_follow_torch(text):
    lr, epochs = 0.1, 40          # past T_MAX too: torch's cosine goes on
    spec = schedules.parse(text)
    ours = [spec.bind(lr)(e) for e in range(epochs)]
    reference = _torch_rates(text, lr, epochs)
    if reference is None:
        reference = [_closed_form(spec.kind, lr, spec.params, e) for e in range(epochs)]
    np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=1e-15)
    assert spec.text == text and spec.constant == (text == "constant")
