"""``net.metrics`` in a model file (version 4): one record per epoch of the
fits that produced it, so that a loaded model keeps its validation curve.

A record holds the numeric fields ``fit`` writes (``epoch``, ``objective``,
``seconds``, ``samples_per_second``, and with validation data ``val_loss``
and ``val_accuracy``); other keys a callback may have added are not saved.
There are at most as many records as epochs in ``history``.
"""
import math

from ..inputs import validation as v
from .rngstate import short

REQUIRED = ("epoch", "objective", "seconds", "samples_per_second")
OPTIONAL = ("val_loss", "val_accuracy")


class Invalid(Exception):
    """A stored record that cannot be one fit wrote."""


def _record_to_json(record, i, n_epochs):
    if not isinstance(record, dict) or any(k not in record for k in REQUIRED):
        raise ValueError(f"cannot save: metrics[{i}] must be a dict with the keys "
                         f"{list(REQUIRED)}, got {short(record)}")
    out = {}
    for key in REQUIRED + OPTIONAL:
        if key not in record:
            continue
        value = record[key]
        if not v._is_real(value) or not math.isfinite(float(value)):
            raise ValueError(f"cannot save: metrics[{i}][{key!r}] is not a finite number "
                             f"({short(value)})")
        out[key] = int(value) if key == "epoch" else float(value)
    if not 0 <= out["epoch"] < n_epochs:
        raise ValueError(f"cannot save: metrics[{i}]['epoch'] is {out['epoch']}, outside "
                         f"the history's {n_epochs} epochs")
    return out


def to_json(metrics, n_epochs):
    """The records of ``metrics`` (a list of dicts), checked."""
    metrics = list(metrics or [])
    if len(metrics) > n_epochs:
        raise ValueError(f"cannot save: {len(metrics)} metrics records for {n_epochs} "
                         f"epochs of history")
    return [_record_to_json(r, i, n_epochs) for i, r in enumerate(metrics)]


def from_json(records, n_epochs):
    """The metrics list of a header's "metrics" field, checked."""
    if not isinstance(records, list) or len(records) > n_epochs:
        raise Invalid(f'"metrics" must be a list of at most {n_epochs} records (one per '
                      f"epoch of history), got {short(records)}")
    out = []
    for i, record in enumerate(records):
        if (not isinstance(record, dict) or any(k not in record for k in REQUIRED)
                or any(k not in REQUIRED + OPTIONAL for k in record)):
            raise Invalid(f'"metrics"[{i}] must hold the keys {list(REQUIRED)} and '
                          f"optionally {list(OPTIONAL)}, got {short(record)}")
        for key, value in record.items():
            ok = v._is_int(value) if key == "epoch" else v._is_real(value)
            try:
                ok = ok and math.isfinite(float(value))
            except OverflowError:
                ok = False
            if not ok or (key == "epoch" and not 0 <= value < n_epochs):
                raise Invalid(f'"metrics"[{i}]["{key}"] is not valid: {short(value)}')
        out.append({k: int(x) if k == "epoch" else float(x) for k, x in record.items()})
    return out
