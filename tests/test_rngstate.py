"""fastmlp.io.rngstate: a generator's exact state to plain JSON values and back,
and a ValueError naming the entry for anything out of range."""
import copy
import json

import numpy as np
import pytest

from fastmlp.io import rngstate as _rngstate
from fastmlp.io.rngstate import STATE_SCHEMAS, generator_from_json, generator_to_json

BIT_GENERATORS = ["PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"]


def _advanced(name, seed=3):
    """A generator part-way through its stream, with a buffered 32-bit value
    where the bit generator keeps one."""
    gen = np.random.Generator(getattr(np.random, name)(seed))
    gen.random(5)
    gen.integers(0, 2**31, 3, dtype=np.int32)
    return gen


def _through_json(gen):
    return generator_from_json(json.loads(json.dumps(generator_to_json(gen))))


def test_schemas_cover_exactly_the_bit_generators_numpy_provides():
    assert sorted(STATE_SCHEMAS) == sorted(BIT_GENERATORS)


@pytest.mark.parametrize("name", BIT_GENERATORS)
def test_every_bit_generator_round_trips_exactly(name):
    gen = _advanced(name)
    before = copy.deepcopy(gen.bit_generator.state)
    value = generator_to_json(gen)
    assert json.loads(json.dumps(value)) == value  # plain JSON, exact ints
    restored = _through_json(gen)
    assert type(restored.bit_generator) is getattr(np.random, name)
    assert restored.bit_generator is not gen.bit_generator
    assert generator_to_json(restored) == value
    np.testing.assert_equal(gen.bit_generator.state, before)  # encoding changes nothing
    # The same stream follows, the buffered 32-bit value first.
    np.testing.assert_array_equal(restored.integers(0, 2**31, 5, dtype=np.int32),
                                  gen.integers(0, 2**31, 5, dtype=np.int32))
    np.testing.assert_array_equal(restored.random(9), gen.random(9))


def _leaves(schema, path=()):
    for key, spec in schema.items():
        if isinstance(spec, dict):
            yield from _leaves(spec, path + (key,))
        else:
            yield path + (key,), spec


def _with(value, path, new):
    out = copy.deepcopy(value)
    target = out["state"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return out


def _bad_values(spec):
    if spec[0] == "int":
        _, lo, hi = spec
        return [lo - 1, hi, True, 1.0, str(lo), None]
    _, dtype, length = spec
    top = int(np.iinfo(dtype).max)
    return [[0] * (length - 1), [0] * (length + 1), [-1] + [0] * (length - 1),
            [top + 1] + [0] * (length - 1), [0.0] * length, [True] * length, 0]


CASES = [(name, path, bad) for name in BIT_GENERATORS
         for path, spec in _leaves(STATE_SCHEMAS[name]) for bad in _bad_values(spec)]


@pytest.mark.parametrize("name,path,bad", CASES,
                         ids=[f"{n}-{'.'.join(p)}-{b!r}"[:60] for n, p, b in CASES])
def test_out_of_range_or_mistyped_entry_is_rejected(name, path, bad):
    value = _with(generator_to_json(_advanced(name)), path, bad)
    with pytest.raises(ValueError, match=r"rng\.state\." + r"\.".join(path) + " must be"):
        generator_from_json(value)


@pytest.mark.parametrize("name", BIT_GENERATORS)
def test_bounds_themselves_are_accepted(name):
    # Each int entry at its lowest and highest allowed value is a state numpy
    # takes and gives back exactly: the bounds are not too tight.
    value = generator_to_json(_advanced(name))
    for path, spec in _leaves(STATE_SCHEMAS[name]):
        if spec[0] == "int":
            for edge in (spec[1], spec[2] - 1):
                edged = _with(value, path, edge)
                assert generator_to_json(generator_from_json(edged)) == edged


def test_known_bounds():
    # Stated independently of the schemas: numpy's own limits.
    mt = generator_to_json(_advanced("MT19937"))
    generator_from_json(_with(mt, ("state", "pos"), 624))
    with pytest.raises(ValueError, match=r"rng\.state\.state\.pos must be an int in \[0, 625\)"):
        generator_from_json(_with(mt, ("state", "pos"), 625))
    pcg = generator_to_json(_advanced("PCG64"))
    generator_from_json(_with(pcg, ("state", "state"), 2**128 - 1))
    with pytest.raises(ValueError, match=r"rng\.state\.state\.state must be an int"):
        generator_from_json(_with(pcg, ("state", "state"), 2**128))


@pytest.mark.parametrize("value,match", [
    (None, '"rng" must be an object with exactly'),
    ({"bit_generator": "PCG64"}, '"rng" must be an object with exactly'),
    ({"bit_generator": "Random", "state": {}}, '"rng.bit_generator" must be one of'),
    ({"bit_generator": 5, "state": {}}, '"rng.bit_generator" must be one of'),
    ({"bit_generator": "PCG64", "state": []}, '"rng.state" must be an object whose'),
    ({"bit_generator": "PCG64", "state": {"bit_generator": "SFC64"}},
     "\"rng.state\" must be an object whose \"bit_generator\" is 'PCG64'"),
])
def test_malformed_value_is_rejected(value, match):
    with pytest.raises(ValueError, match=match):
        generator_from_json(value)


def test_missing_and_extra_entries_are_rejected():
    value = generator_to_json(_advanced("Philox"))
    missing = copy.deepcopy(value)
    del missing["state"]["state"]["key"]
    with pytest.raises(ValueError, match="rng.state.state is missing 'key'"):
        generator_from_json(missing)
    extra = _with(value, ("spare",), 1)
    with pytest.raises(ValueError, match=r"rng.state has unexpected entries \['spare'\]"):
        generator_from_json(extra)
    nested = _with(value, ("state",), [1, 2])
    with pytest.raises(ValueError, match="rng.state.state must be an object, got a list"):
        generator_from_json(nested)


def test_only_numpys_own_bit_generators_are_encoded():
    class MyPCG64(np.random.PCG64):
        pass

    with pytest.raises(ValueError, match="MyPCG64.*supported bit generators: PCG64"):
        generator_to_json(np.random.Generator(MyPCG64(1)))
    with pytest.raises(ValueError, match="supported bit generators"):
        generator_to_json(np.random.RandomState(1))


def test_short_cuts_long_values():
    assert _rngstate.short("ab") == "'ab'"
    text = _rngstate.short(list(range(1000)))
    assert len(text) == 60 and text.endswith("...")
