"""``--lr-schedule``: the learning rate epoch by epoch, as fit takes it (a
callable ``lr(epoch)``, called before each epoch with the number of epochs
done so far).

The schedules are those of ``torch.optim.lr_scheduler`` stepped once per
epoch, in their closed forms, with ``lr`` the --lr option:

- ``constant``: lr;
- ``step:STEP_SIZE:GAMMA`` (StepLR): lr * GAMMA ** (epoch // STEP_SIZE);
- ``exponential:GAMMA`` (ExponentialLR): lr * GAMMA ** epoch;
- ``cosine:T_MAX[:ETA_MIN]`` (CosineAnnealingLR): ETA_MIN + (lr - ETA_MIN)
  * (1 + cos(pi * epoch / T_MAX)) / 2, ETA_MIN 0 unless given; past T_MAX
  the cosine goes on (the rate rises again), as in torch.

Nothing here knows argparse: ``parse`` raises ValueError.
"""
import math
from dataclasses import dataclass

SYNTAX = "constant, step:STEP_SIZE:GAMMA, exponential:GAMMA or cosine:T_MAX[:ETA_MIN]"


def _constant(lr, epoch):
    return lr


def _step(lr, epoch, step_size, gamma):
    return lr * gamma ** (epoch // step_size)


def _exponential(lr, epoch, gamma):
    return lr * gamma ** epoch


def _cosine(lr, epoch, t_max, eta_min=0.0):
    return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * epoch / t_max)) / 2


# kind: (formula, the names of its parameters, how many may be left out)
_KINDS = {"constant": (_constant, (), 0),
          "step": (_step, ("STEP_SIZE", "GAMMA"), 0),
          "exponential": (_exponential, ("GAMMA",), 0),
          "cosine": (_cosine, ("T_MAX", "ETA_MIN"), 1)}


@dataclass(frozen=True)
class Spec:
    """A parsed --lr-schedule: ``kind`` (a key of the syntax) and its
    parameters, before the base learning rate is known."""

    text: str
    kind: str
    params: tuple

    @property
    def constant(self):
        return self.kind == "constant"

    def bind(self, lr):
        """The schedule at base learning rate ``lr``: a callable lr(epoch)."""
        return Schedule(self, float(lr))


@dataclass(frozen=True)
class Schedule:
    """lr(epoch) of ``spec`` at base learning rate ``lr``."""

    spec: Spec
    lr: float

    def __call__(self, epoch):
        return _KINDS[self.spec.kind][0](self.lr, epoch, *self.spec.params)

    def first_unusable(self, epochs):
        """(epoch, lr) of the first of ``epochs`` epochs whose rate is not a
        finite number > 0 (fit would stop there), or None."""
        for epoch in range(epochs):
            value = self(epoch)
            if not (math.isfinite(value) and value > 0):
                return epoch, value
        return None


def _param(name, text):
    """A parameter's value, checked: STEP_SIZE and T_MAX are positive
    integers, GAMMA a number > 0, ETA_MIN a number >= 0."""
    if name in ("STEP_SIZE", "T_MAX"):
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise ValueError(f"{name} must be a positive integer, got {text!r}")
        return value
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    least = "0 <=" if name == "ETA_MIN" else "0 <"
    if not (math.isfinite(value) and (value >= 0 if name == "ETA_MIN" else value > 0)):
        raise ValueError(f"{name} must be a finite number, {least} {name}, got {text!r}")
    return value


def parse(text):
    """The Spec of an --lr-schedule value (the syntax in the module's
    docstring); ValueError naming what is wrong."""
    kind, *values = text.strip().split(":")
    kind = kind.strip().lower()
    if kind not in _KINDS:
        raise ValueError(f"unknown schedule {kind!r}: expected {SYNTAX}")
    _, names, optional = _KINDS[kind]
    if not len(names) - optional <= len(values) <= len(names):
        form = kind + "".join(f":{n}" for n in names[:len(names) - optional]) + \
            "".join(f"[:{n}]" for n in names[len(names) - optional:])
        raise ValueError(f"{kind} takes the form {form}, got {text!r}")
    params = tuple(_param(name, value.strip()) for name, value in zip(names, values))
    return Spec(text.strip(), kind, params)
