"""A numpy generator's exact state, to and from plain JSON values.

``generator_to_json(rng)`` gives ``{"bit_generator": name, "state": state}``
with only dicts, lists, ints and the name string in it: arrays become lists
of ints, and 128-bit integers stay exact Python ints (JSON has no size
limit on integers; ``json`` writes and reads them exactly).
``generator_from_json(obj)`` builds a new ``numpy.random.Generator`` from
such a value.

Guarantees:

- Exact: for each bit generator numpy provides (PCG64, PCG64DXSM, MT19937,
  Philox, SFC64) the rebuilt generator holds exactly the saved state,
  buffered values included, so it draws the same stream. The seed sequence
  (used only by ``spawn``) is not part of the state and is not kept.
- Closed: ``generator_to_json`` refuses (ValueError) any other bit
  generator, subclasses of numpy's included, since their state may mean
  something else.
- Checked: ``generator_from_json`` raises ValueError, naming the entry, for
  a missing, extra, mistyped or out-of-range entry; the bounds are those of
  the generator itself, not only what numpy's setters check (MT19937
  accepts any position, then indexes its key with it). After setting the
  state it reads it back and insists it is exactly what was given, since
  the setters convert silently.

It knows nothing about files; fastmlp.io.persist stores the value in a
model file's header.
"""
from numbers import Integral, Real

import numpy as np

from ..inputs.validation import _is_int

# The layout of ``bit_generator.state`` for each bit generator numpy
# provides. A leaf is ("int", lo, hi): an int in [lo, hi); or
# ("array", dtype, length): a 1-D array, written as a list of ints.
_U32 = 2**32
_U128 = 2**128
_CACHE = {"has_uint32": ("int", 0, 2), "uinteger": ("int", 0, _U32)}
_PCG_STATE = {"state": {"state": ("int", 0, _U128), "inc": ("int", 0, _U128)}, **_CACHE}
STATE_SCHEMAS = {
    "PCG64": _PCG_STATE,
    "PCG64DXSM": _PCG_STATE,
    "MT19937": {"state": {"key": ("array", np.uint32, 624), "pos": ("int", 0, 625)}},
    "Philox": {
        "state": {"counter": ("array", np.uint64, 4), "key": ("array", np.uint64, 2)},
        "buffer": ("array", np.uint64, 4),
        "buffer_pos": ("int", 0, 5),
        **_CACHE,
    },
    "SFC64": {"state": {"state": ("array", np.uint64, 4)}, **_CACHE},
}


def json_type(x):
    """What kind of JSON value ``x`` is, for error messages."""
    for t, name in ((bool, "a boolean"), (str, "a string"), (Integral, "an integer"),
                    (Real, "a number"), (list, "a list"), (dict, "an object")):
        if isinstance(x, t):
            return name
    return "null" if x is None else type(x).__name__


def short(x):
    """``repr(x)`` cut to 60 characters: error messages quote file contents,
    which may be huge."""
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


def state_to_json(state, schema, where):
    """``bit_generator.state`` as JSON-ready values, checked against schema."""
    if not isinstance(state, dict):
        raise ValueError(f"{where} is not a dict")
    out = {}
    for key, spec in schema.items():
        if key not in state:
            raise ValueError(f"{where} has no {key!r}")
        value = state[key]
        if isinstance(spec, dict):
            out[key] = state_to_json(value, spec, f"{where}[{key!r}]")
        elif spec[0] == "int":
            out[key] = int(value)
        else:
            out[key] = [int(x) for x in np.asarray(value).ravel()]
    return out


def state_from_json(obj, schema, where, allowed=()):
    """The state dict numpy's setter takes, rebuilt from JSON values; raises
    ValueError on any missing, extra, mistyped or out-of-range entry (keys
    in ``allowed`` may be present and are not returned)."""
    if not isinstance(obj, dict):
        raise ValueError(f"{where} must be an object, got {json_type(obj)}")
    extra = sorted(set(obj) - set(schema) - set(allowed))
    if extra:
        raise ValueError(f"{where} has unexpected entries {extra}")
    out = {}
    for key, spec in schema.items():
        if key not in obj:
            raise ValueError(f"{where} is missing {key!r}")
        value, here = obj[key], f"{where}.{key}"
        if isinstance(spec, dict):
            out[key] = state_from_json(value, spec, here)
        elif spec[0] == "int":
            _, lo, hi = spec
            if not _is_int(value) or not lo <= value < hi:
                raise ValueError(f"{here} must be an int in [{lo}, {hi}), got {short(value)}")
            out[key] = int(value)
        else:
            _, dtype, length = spec
            hi = int(np.iinfo(dtype).max)
            if (not isinstance(value, list) or len(value) != length
                    or not all(_is_int(x) and 0 <= x <= hi for x in value)):
                raise ValueError(
                    f"{here} must be a list of {length} ints in [0, {hi}], got {short(value)}")
            out[key] = np.array(value, dtype=dtype)
    return out


def generator_to_json(rng):
    """``{"bit_generator": name, "state": state}`` for the Generator ``rng``."""
    bg = getattr(rng, "bit_generator", None)
    name = type(bg).__name__
    if name not in STATE_SCHEMAS or type(bg) is not getattr(np.random, name):
        raise ValueError(
            f"cannot save a model whose generator uses {type(bg).__module__}.{name}; "
            f"supported bit generators: {', '.join(STATE_SCHEMAS)}")
    state = state_to_json(bg.state, STATE_SCHEMAS[name], f"{name} state")
    return {"bit_generator": name, "state": {"bit_generator": name, **state}}


def generator_from_json(obj):
    """A new Generator in exactly the state ``obj`` describes (as written by
    generator_to_json); ValueError naming the problem otherwise."""
    if not isinstance(obj, dict) or set(obj) != {"bit_generator", "state"}:
        raise ValueError('"rng" must be an object with exactly the fields '
                         '"bit_generator" and "state"')
    name = obj["bit_generator"]
    if not isinstance(name, str) or name not in STATE_SCHEMAS:
        raise ValueError(f'"rng.bit_generator" must be one of {", ".join(STATE_SCHEMAS)}, '
                         f"got {short(name)}")
    state = obj["state"]
    if not isinstance(state, dict) or state.get("bit_generator") != name:
        raise ValueError(f'"rng.state" must be an object whose "bit_generator" is {name!r}')
    values = state_from_json(state, STATE_SCHEMAS[name], "rng.state", ("bit_generator",))
    bit_generator = getattr(np.random, name)(0)
    try:
        bit_generator.state = {"bit_generator": name, **values}
        restored = bit_generator.state
    except Exception as exc:
        raise ValueError(f"numpy refused the {name} state: {exc}") from None
    if state_to_json(restored, STATE_SCHEMAS[name], name) != \
            state_to_json(values, STATE_SCHEMAS[name], name):
        raise ValueError(f"the {name} state could not be restored exactly")
    return np.random.Generator(bit_generator)
