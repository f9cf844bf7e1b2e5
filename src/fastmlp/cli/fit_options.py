"""The options of ``fastmlp train`` that fit takes as they are turned into
fit's arguments: the optimizer, the learning-rate schedule, the class
weights and early stopping.

``check`` refuses their conflicts before any data is read; ``options``
makes fit's keyword arguments once the data is prepared. The class
weights are given in the data's own labels and handed to fit by class
code; "balanced" is computed here from the training rows of every process
(``rows.total``), so that the ranks of mpiexec weigh the classes as one
process holding every row would, instead of each by its own block.
"""
import numpy as np

from .parser import DEFAULT_PATIENCE
from .status import CLIError

CLASSIFIERS = ("cross_entropy", "binary_cross_entropy")


def patience(args):
    """The patience fit takes: --patience, its default with a validation
    split (none without one), and 0 for none."""
    if args.patience is None:
        return DEFAULT_PATIENCE if args.val_fraction > 0 else None
    return args.patience or None


def check(args):
    """The conflicts of these options with the others, before any data is
    read."""
    if args.patience and args.val_fraction == 0:
        raise CLIError(f"--patience {args.patience} stops on the validation objective, but "
                       f"--val-fraction 0 holds out no validation rows (give --val-fraction "
                       f"F > 0, or leave out --patience)")
    if args.class_weight is not None and args.loss not in CLASSIFIERS:
        raise CLIError(f"--class-weight applies to --loss cross_entropy or "
                       f"binary_cross_entropy, not {args.loss}")
    if not args.lr_schedule.constant:
        unusable = args.lr_schedule.bind(args.lr).first_unusable(args.epochs)
        if unusable is not None:
            epoch, value = unusable
            raise CLIError(f"--lr-schedule {args.lr_schedule.text}: the learning rate at "
                           f"epoch {epoch} (counting from 0) would be {value:g}, and fit "
                           f"needs one > 0 in each of the --epochs {args.epochs}")


def _code_of(text, labels, name):
    """The class code of the label written ``text`` in --class-weight."""
    for code, label in enumerate(labels):
        if isinstance(label, str):
            if text == label:
                return code
        else:
            try:
                if int(text) == label:
                    return code
            except ValueError:
                pass
    shown = ", ".join(map(str, labels[:20])) + (", ..." if len(labels) > 20 else "")
    raise CLIError(f"--class-weight: {text!r} is not a class of {name} (classes: {shown})")


def _class_codes(data, loss):
    """(each training row's class code, the class labels by code)."""
    y = data.y[data.train_idx]
    if loss == "cross_entropy":
        return y, data.labels
    if y.ndim != 1:
        raise CLIError(f"--class-weight needs one binary_cross_entropy target column; "
                       f"{data.table.name} has {y.shape[1]} (multi-label)")
    return y.astype(np.int64), (0, 1)


def class_weight(spec, data, loss, rows):
    """fit's class_weight ({class code: weight}) for --class-weight ``spec``
    ("balanced", or (label text, weight) pairs), or None."""
    if spec is None:
        return None
    codes, labels = _class_codes(data, loss)
    if spec == "balanced":
        # n / (K * count_k) over the classes present (scikit-learn's
        # compute_class_weight), with the counts of every process's rows.
        counts = rows.total(np.bincount(codes, minlength=len(labels)))
        present = np.flatnonzero(counts)
        n = float(counts.sum())
        return {int(k): n / (len(present) * float(counts[k])) for k in present}
    weights = {}
    for text, weight in spec:
        code = _code_of(text, labels, data.table.name)
        if code in weights:
            raise CLIError(f"--class-weight gives the class {labels[code]!r} twice")
        weights[code] = weight
    return weights


def options(args, data, rows):
    """fit's keyword arguments for these options (and a line saying them)."""
    stop = patience(args)
    lr = args.lr if args.lr_schedule.constant else args.lr_schedule.bind(args.lr)
    weights = class_weight(args.class_weight, data, args.loss, rows)
    said = [f"optimizer={args.optimizer}"]
    if args.optimizer == "adam":
        said.append(f"beta_2={args.beta_2}, epsilon={args.epsilon:g}")
    if not args.shuffle:
        said.append("shuffle=False")
    said.append(f"lr_schedule={args.lr_schedule.text}")
    if weights is not None:
        labels = _class_codes(data, args.loss)[1]
        said.append("class_weight=" + ",".join(f"{labels[k]}={w:.4g}"
                                               for k, w in sorted(weights.items())))
    said.append(f"patience={stop}" + ("" if stop is None else
                                     f", min_delta={args.min_delta} (early stopping on the "
                                     f"validation objective, restoring its best epoch)"))
    rows.say("fit: " + ", ".join(said), flush=True)
    return dict(lr=lr, optimizer=args.optimizer, beta_2=args.beta_2, epsilon=args.epsilon,
                shuffle=args.shuffle, class_weight=weights, patience=stop,
                min_delta=args.min_delta)
