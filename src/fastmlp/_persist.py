"""Saving and loading models: ``net.save(path)`` and ``MLP.load(path)``.

File format "fastmlp-mlp", version 3
====================================

A model file is a NumPy ``.npz`` archive (a zip file, written uncompressed
by ``numpy.savez``; members deflated as by ``numpy.savez_compressed`` are
read too, no other compression) with three or four members, none of which
holds Python objects (nothing in the file is pickled, and loading uses
``numpy.load(..., allow_pickle=False)``, so reading an untrusted file never
executes code):

``header.npy``
    The UTF-8 bytes of a JSON object, stored as a 1-D ``uint8`` array
    (a 0-d unicode array holding the JSON text is accepted on load too).
``params.npy``
    The parameters, 1-D, of the header's dtype (native byte order), in the
    canonical layout: all weights first (``W_l`` of shape ``(n_{l+1}, n_l)``,
    row-major, for l = 0..L-1), then all biases, i.e.
    ``concatenate([W.ravel() for W in net.weights] + net.biases)``.
``velocity.npy``
    The velocity ``net.velocity``, same shape, dtype and layout: the
    momentum buffer of "momentum" and "nesterov", Adam's first moment m1
    for "adam".
``second_moment.npy``
    Present exactly when the header's ``optimizer`` is ``"adam"``: Adam's
    second moment m2 (``net.second_moment``), same shape, dtype and layout;
    finite and >= 0, being a running mean of squared gradients.

The stored layout is this canonical one whatever the layout of
``net.params`` in memory (which may hold W_0 transposed, see
fastmlp._layout): ``save`` converts with ``Layout.to_canonical`` and
``load`` writes into the new model's own layout with
``Layout.from_canonical``. A file therefore loads into any model class, and
stays valid when a class changes its memory layout. Files written before
the two were told apart are the same format: models then always held the
canonical layout in memory, so what they wrote is canonical too.

The JSON header has exactly these fields (strict JSON: no NaN or Infinity,
no duplicate keys, no other fields):

========================  ====================================================
``format``                ``"fastmlp-mlp"``
``version``               ``3``
``layer_sizes``           list of ints ``[n0, ..., nL]``
``hidden_activations``    list of ``L - 1`` activation names
``loss``                  loss name
``output_activation``     output-layer activation name
``init_schemes``          list of ``L`` init names (one per layer)
``l2``                    number
``dtype``                 ``"float32"`` or ``"float64"``
``history``               list of numbers (``net.history``)
``rng``                   ``{"bit_generator": name, "state": state}``: the
                          class name of the model generator's bit generator
                          (one of numpy's PCG64, PCG64DXSM, MT19937, Philox,
                          SFC64) and its ``bit_generator.state`` dict, with
                          arrays written as lists of ints and 128-bit
                          integers as plain JSON integers (the codec is
                          fastmlp._rngstate)
``optimizer``             ``"momentum"``, ``"nesterov"`` or ``"adam"``
                          (``net.optimizer``: the update rule of the last fit)
``optimizer_steps``       int >= 0 (and < 2**63), Adam's step count t
                          (``net.optimizer_steps``); 0 unless ``optimizer``
                          is ``"adam"``
``feature_names``         null, or a list of n0 distinct strings: the
                          column names of the DataFrame fit was given
                          (``net.feature_names``)
``target_name``           null or a string (``net.target_name``)
``class_labels``          null, or (cross_entropy only) a list of nL distinct
                          labels, all integers or all strings
                          (``net.class_labels``)
``standardization``       null, or ``{"mean": [n0 numbers], "scale": [n0
                          numbers > 0], "target_mean": null or [nL numbers],
                          "target_scale": null or [nL numbers > 0]}`` (the
                          last two for mse only; ``net.standardization``)
``matmul_dtype``          null or ``"bfloat16"`` (``net.matmul_dtype``)
========================  ====================================================

The three before ``matmul_dtype`` are described in fastmlp._metadata:
what the command line did to the data (``fastmlp train``), so that
``fastmlp predict`` can do the same; the model's own methods apply none of
it.

Version 3: what changed, and why
--------------------------------
A model trained by the command line must know its data: the target column
to drop, the class each output stands for, and the scaling applied to the
features (and to an mse target). Version 3 adds the three fields above;
versions 1 and 2 load with all three None. It also adds ``matmul_dtype``:
a model trained with bfloat16 products keeps computing them after a save
and load (versions 1 and 2 load with ``matmul_dtype = None``, the only
products they knew; loading a bfloat16 model without the extra raises the
constructor's ImportError).

Version 2: what changed, and why
--------------------------------
fit gained the "nesterov" and "adam" update rules, and Adam's state is more
than the velocity: its second moment and its step count (which sets the
bias correction) persist across fit calls. Without them a loaded Adam model
would restart with m2 = 0 and t = 0 and take steps of a very different size
from the ones it would have taken uninterrupted. So version 2 adds the
header fields ``optimizer`` and ``optimizer_steps`` and the member
``second_moment.npy`` (Adam only). It also adds ``feature_names``: a model
fit on a DataFrame reads later DataFrames by column name, and keeps that
after a save and load. The round trip
guarantee below covers the whole optimizer state.

Version 1 (still read)
----------------------
Version 1 is version 2 without the three header fields and without
``second_moment.npy`` (a version-1 file holding that member is refused):
``"version": 1`` and exactly the first eleven fields above, always the
three members header, params and velocity, the velocity being the momentum
buffer. All version-1 files were written by the "momentum" rule, so
``load`` gives them ``optimizer = "momentum"``, ``second_moment = None``
and ``optimizer_steps = 0``, which is exactly the state they were saved in
(and ``feature_names = None``).
``save`` writes version 3 only (version 2 is version 3 without the four
fields ``target_name``, ``class_labels``, ``standardization`` and
``matmul_dtype``).

A reader meeting a version other than 1, 2 or 3 refuses the file; a future
version will bump the number whenever a field's meaning changes or one is
added.

Guarantees
----------
- Round trip: ``MLP.load(path)`` (on ``fastmlp.MLP`` or
  ``fastmlp.reference.MLP``, returning an instance of that class) restores
  the weights, biases, hyperparameters, history, generator state and
  optimizer state (name, velocity, second moment, step count) exactly, so ``fit`` after a save and load continues bit for bit as an
  uninterrupted ``fit`` would (shuffles included). The loaded model is built
  through the normal constructor: ``weights`` and ``biases`` are views into
  ``params`` as always. The generator's seed sequence (used only by
  ``spawn``) is not saved.
- Exact name: the file is written at ``path`` exactly as given (str or
  os.PathLike); no ``.npz`` suffix is appended. A symlink is written
  through (its target is replaced), as ``open`` would. The new file gets
  the usual mode (0666 masked by the umask).
- Atomic (fastmlp._atomic): the archive is written to a temporary file in
  the target's directory, flushed and fsynced, then renamed over the target
  with ``os.replace``, and the directory is fsynced where the OS allows. A save
  that fails at any point leaves an existing file untouched and removes the
  temporary file. ``save`` refuses (ValueError) a model whose parameters,
  velocity, second moment or history are not finite, whose second moment
  is negative or not an array like params, or whose optimizer state is
  not one the header can hold (an unknown optimizer name; a second moment
  or a nonzero step count without "adam"; "adam" without a second moment;
  a negative step count), rather than write a file ``load`` would reject.
- Validation: a file that is truncated, corrupted, tampered with or simply
  not a model file makes ``load`` raise ValueError with a message naming the
  problem: never another exception type, and never code execution. Array
  sizes are checked against the zip directory and the header before
  anything is allocated. A file that cannot be opened at all (missing,
  permissions) raises the usual OSError.
"""
import json
import math
import os
import zipfile

import numpy as np

from . import _metadata
from . import _validation as v
from ._atomic import atomic_write
from ._layout import Layout
from ._rngstate import generator_from_json, generator_to_json, json_type, short

FORMAT_NAME = "fastmlp-mlp"
FORMAT_VERSION = 3  # what save writes
READABLE_VERSIONS = (1, 2, 3)

HEADER_FIELDS_V1 = (
    "format", "version", "layer_sizes", "hidden_activations", "loss",
    "output_activation", "init_schemes", "l2", "dtype", "history", "rng",
)
HEADER_FIELDS_V2 = HEADER_FIELDS_V1 + ("feature_names", "optimizer", "optimizer_steps")
HEADER_FIELDS = HEADER_FIELDS_V2 + _metadata.FIELDS + ("matmul_dtype",)
FIELDS_BY_VERSION = {1: HEADER_FIELDS_V1, 2: HEADER_FIELDS_V2, 3: HEADER_FIELDS}
MEMBERS = ("header", "params", "velocity")  # in every file
ADAM_MEMBER = "second_moment"               # in version 2, exactly with adam
OPTIMIZERS = ("momentum", "nesterov", "adam")
# The model holds its step count in an intp.
MAX_OPTIMIZER_STEPS = int(np.iinfo(np.intp).max)

# Deflate cannot expand data by more than about 1032:1; a zip entry claiming
# more is lying, and its claimed size must not drive an allocation.
_MAX_DEFLATE_RATIO = 1100


class _Invalid(Exception):
    """A problem with the file's contents; load turns it into ValueError."""


def _fspath(path):
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    return os.fsdecode(os.fspath(path))


# -- save --------------------------------------------------------------------

def _canonical_buffer(model, name):
    """``model.<name>`` checked, in the canonical layout (a new array)."""
    layout = model._layout
    arr = getattr(model, name)
    if (not isinstance(arr, np.ndarray) or arr.dtype != model.dtype
            or arr.shape != (layout.n_params,)):
        raise ValueError(f"cannot save: {name} is not a 1-D {model.dtype} array of "
                         f"{layout.n_params} values")
    if not np.isfinite(arr).all():
        raise ValueError(f"cannot save: {name} contains NaN or infinity (the model diverged)")
    return layout.to_canonical(arr)


def _optimizer_state(model):
    """(optimizer name, step count, canonical second moment or None), checked
    to be what the header and members can hold."""
    name = model.optimizer
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise ValueError(f"cannot save: unknown optimizer {short(name)}; "
                         f"expected one of {', '.join(map(repr, OPTIMIZERS))}")
    steps = model.optimizer_steps
    if not v._is_int(steps) or not 0 <= steps <= MAX_OPTIMIZER_STEPS:
        raise ValueError(f"cannot save: optimizer_steps must be an int in "
                         f"[0, {MAX_OPTIMIZER_STEPS}], got {short(steps)}")
    if name != "adam":
        if model.second_moment is not None:
            raise ValueError(f"cannot save: second_moment is set, but optimizer {name!r} "
                             f"has none (only 'adam' keeps a second moment)")
        if steps != 0:
            raise ValueError(f"cannot save: optimizer_steps is {steps}, but optimizer "
                             f"{name!r} counts no steps (only 'adam' does)")
        return name, 0, None
    if model.second_moment is None:
        raise ValueError("cannot save: optimizer is 'adam' but second_moment is None")
    second_moment = _canonical_buffer(model, "second_moment")
    negative = second_moment < 0
    if negative.any():
        raise ValueError(f"cannot save: second_moment is negative at canonical index "
                         f"{int(np.argmax(negative))} (it is a mean of squares)")
    return name, int(steps), second_moment


def _header(model, optimizer, steps):
    history = []
    for i, h in enumerate(model.history):
        if not v._is_real(h) or not math.isfinite(float(h)):
            raise ValueError(f"cannot save: history[{i}] is not a finite number ({h!r})")
        history.append(float(h))
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "layer_sizes": [int(s) for s in model.layer_sizes],
        "hidden_activations": list(model.hidden_activations),
        "loss": model.loss_name,
        "output_activation": model.output_activation,
        "init_schemes": list(model.init_schemes),
        "l2": float(model.l2),
        "dtype": np.dtype(model.dtype).name,
        "history": history,
        "rng": generator_to_json(model.rng),
        "feature_names": _feature_names_to_json(model.feature_names),
        "optimizer": optimizer,
        "optimizer_steps": steps,
        **_metadata.to_json(model),
        "matmul_dtype": model.matmul_dtype,
    }


def _feature_names_to_json(names):
    if names is None:
        return None
    if not isinstance(names, tuple) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"cannot save: feature_names must be None or a tuple of str, got "
                         f"{short(names)}")
    if len(names) != len(set(names)):
        raise ValueError("cannot save: feature_names has duplicates")
    return list(names)


def _check_feature_names(header, n_features):
    """The feature names of a checked header (version 1: None)."""
    names = header.get("feature_names") if header["version"] >= 2 else None
    if names is None:
        return None
    if (not isinstance(names, list) or not all(isinstance(n, str) for n in names)
            or len(set(names)) != len(names)):
        raise _Invalid(f'"feature_names" must be null or a list of distinct strings, got '
                       f"{short(names)}")
    if len(names) != n_features:
        raise _Invalid(f'"feature_names" has {len(names)} names, but the model has '
                       f"{n_features} inputs")
    return tuple(names)


def _write_payload(f, header_bytes, arrays):
    """The archive, written to the open binary file ``f``."""
    np.savez(f, allow_pickle=False,
             header=np.frombuffer(header_bytes, dtype=np.uint8), **arrays)


def save(model, path):
    """Write ``model`` to ``path`` in the format described above."""
    path = _fspath(path)
    arrays = {"params": _canonical_buffer(model, "params"),
              "velocity": _canonical_buffer(model, "velocity")}
    optimizer, steps, second_moment = _optimizer_state(model)
    if second_moment is not None:
        arrays[ADAM_MEMBER] = second_moment
    header_bytes = json.dumps(_header(model, optimizer, steps),
                              allow_nan=False).encode("utf-8")
    atomic_write(path, lambda f: _write_payload(f, header_bytes, arrays))


# -- load --------------------------------------------------------------------

def _reject_constant(name):
    raise ValueError(f"{name} is not allowed in strict JSON")


def _no_duplicates(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def _members(archive, file_size):
    """{member: (zip info, npy shape, npy dtype)}, checked before any read."""
    infos = archive.zip.infolist()
    names = [info.filename for info in infos]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise _Invalid(f"the archive has duplicate members {dupes}")
    expected = {m + ".npy" for m in MEMBERS + (ADAM_MEMBER,)}
    missing = [m for m in MEMBERS if m + ".npy" not in names]
    if missing:
        raise _Invalid(f"the archive is missing {', '.join(repr(m) for m in missing)} "
                       f"(members: {', '.join(names) or 'none'})")
    extra = sorted(set(names) - expected)
    if extra:
        raise _Invalid(f"the archive has unexpected members {extra}")
    out = {}
    for info in infos:
        member = info.filename[:-4]
        if info.flag_bits & 0x1:
            raise _Invalid(f"member {member!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _Invalid(f"member {member!r} uses unsupported compression "
                           f"method {info.compress_type}")
        if info.compress_size > file_size or (
                info.file_size != info.compress_size
                if info.compress_type == zipfile.ZIP_STORED
                else info.file_size > _MAX_DEFLATE_RATIO * info.compress_size + 1024):
            raise _Invalid(f"member {member!r} has inconsistent sizes in the zip directory "
                           f"(truncated or corrupted)")
        try:
            with archive.zip.open(info) as fp:
                version = np.lib.format.read_magic(fp)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
                else:
                    raise ValueError(f"unsupported .npy format version {version}")
        except Exception as exc:
            raise _Invalid(f"member {member!r} is not a readable .npy array "
                           f"({type(exc).__name__}: {exc})") from None
        if dtype.hasobject:
            raise _Invalid(f"member {member!r} holds Python objects (pickled data), "
                           f"which are never loaded")
        if math.prod(shape) * dtype.itemsize > info.file_size:
            raise _Invalid(f"member {member!r} claims shape {shape} of {dtype} but holds "
                           f"only {info.file_size} bytes (truncated or corrupted)")
        out[member] = (info, shape, dtype)
    return out


def _read(archive, member):
    try:
        arr = archive[member]
    except Exception as exc:
        raise _Invalid(f"member {member!r} cannot be read ({type(exc).__name__}: {exc})") from None
    if not isinstance(arr, np.ndarray):
        raise _Invalid(f"member {member!r} is not a .npy array")
    return arr


def _parse_header(archive, shape, dtype):
    if dtype == np.uint8 and len(shape) == 1:
        data = _read(archive, "header").tobytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _Invalid(f"the header is not UTF-8 text ({exc})") from None
    elif dtype.kind == "U" and shape == ():
        text = str(_read(archive, "header")[()])
    else:
        raise _Invalid(f"the header must be a 1-D uint8 array (UTF-8 JSON) or a 0-d "
                       f"unicode array, got shape {shape} of {dtype}")
    try:
        header = json.loads(text, parse_constant=_reject_constant,
                            object_pairs_hook=_no_duplicates)
    except Exception as exc:
        raise _Invalid(f"the header is not valid JSON ({type(exc).__name__}: {exc})") from None
    if not isinstance(header, dict):
        raise _Invalid(f"the header must be a JSON object, got {json_type(header)}")
    return header


def _check_header(header):
    """Format, version, the field set and the types the constructor does not
    check itself (it accepts more than a file may contain)."""
    if header.get("format") != FORMAT_NAME:
        raise _Invalid(f'the header\'s "format" is {short(header.get("format"))}, '
                       f"not {FORMAT_NAME!r}: this is not a fastmlp model file")
    version = header.get("version")
    if not v._is_int(version):
        raise _Invalid(f'the header\'s "version" must be an integer, got {short(version)}')
    if version not in READABLE_VERSIONS:
        raise _Invalid(f"unknown format version {version}; this fastmlp reads "
                       f"versions {', '.join(map(str, READABLE_VERSIONS[:-1]))} and "
                       f"{READABLE_VERSIONS[-1]}")
    fields = FIELDS_BY_VERSION[version]
    missing = [f for f in fields if f not in header]
    if missing:
        raise _Invalid(f"the header is missing the fields {missing}")
    extra = sorted(set(header) - set(fields))
    if extra:
        raise _Invalid(f"the header has unexpected fields {extra}"
                       + (f" for version {version}" if version != FORMAT_VERSION else ""))
    for field in ("layer_sizes", "hidden_activations", "init_schemes", "history"):
        if not isinstance(header[field], list):
            raise _Invalid(f'"{field}" must be a list, got {json_type(header[field])}')
    for field in ("loss", "output_activation", "dtype"):
        if not isinstance(header[field], str):
            raise _Invalid(f'"{field}" must be a string, got {json_type(header[field])}')
    for i, name in enumerate(header["init_schemes"]):
        if not isinstance(name, str):
            raise _Invalid(f'"init_schemes"[{i}] must be a string, got {json_type(name)}')
    history = []
    for i, h in enumerate(header["history"]):
        try:
            h = float(h) if v._is_real(h) else None
        except OverflowError:
            h = None
        if h is None or not math.isfinite(h):
            raise _Invalid(f'"history"[{i}] must be a finite number, '
                           f'got {short(header["history"][i])}')
        history.append(h)
    return history


def _check_optimizer(header, members):
    """(optimizer, steps) from a checked header (version 1: the momentum
    rule's), and the second-moment member present exactly with adam."""
    has_member = ADAM_MEMBER in members
    if header["version"] == 1:
        if has_member:
            raise _Invalid(f"the archive has a {ADAM_MEMBER!r} member, which version-1 "
                           f"files never have")
        return "momentum", 0
    name, steps = header["optimizer"], header["optimizer_steps"]
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise _Invalid(f'"optimizer" must be one of {", ".join(map(repr, OPTIMIZERS))}, '
                       f"got {short(name)}")
    if not v._is_int(steps) or not 0 <= steps <= MAX_OPTIMIZER_STEPS:
        raise _Invalid(f'"optimizer_steps" must be an int in [0, {MAX_OPTIMIZER_STEPS}], '
                       f"got {short(steps)}")
    if name != "adam" and steps != 0:
        raise _Invalid(f'"optimizer_steps" must be 0 unless "optimizer" is \'adam\', '
                       f"got {steps} with {name!r}")
    if name == "adam" and not has_member:
        raise _Invalid(f'"optimizer" is \'adam\', but the archive has no {ADAM_MEMBER!r} '
                       f"member")
    if name != "adam" and has_member:
        raise _Invalid(f"the archive has a {ADAM_MEMBER!r} member, but \"optimizer\" is "
                       f"{name!r} (only 'adam' keeps a second moment)")
    return name, int(steps)


def _check_array(archive, member, peeked, n_params, dtype):
    _, shape, file_dtype = peeked
    if shape != (n_params,):
        raise _Invalid(f"{member} has shape {shape}, but the header's layer_sizes need "
                       f"({n_params},)")
    if file_dtype != dtype:
        raise _Invalid(f"{member} has dtype {file_dtype.str}, but the header says "
                       f"{dtype.name} ({dtype.str})")
    arr = _read(archive, member)
    if arr.shape != (n_params,) or arr.dtype != dtype:
        raise _Invalid(f"{member} does not match its .npy header")
    if not np.isfinite(arr).all():
        raise _Invalid(f"{member} contains NaN or infinity "
                       f"(first at index {int(np.argmin(np.isfinite(arr)))})")
    return arr


def _load_archive(cls, archive, file_size):
    members = _members(archive, file_size)
    header = _parse_header(archive, *members["header"][1:])
    history = _check_header(header)
    optimizer, steps = _check_optimizer(header, members)
    try:
        sizes = v.check_layer_sizes(header["layer_sizes"])
        dtype = v.check_dtype(header["dtype"])
    except (ValueError, TypeError) as exc:
        raise _Invalid(f"the header describes an invalid model: {exc}") from None
    if dtype.name != header["dtype"]:
        raise _Invalid(f'"dtype" must be "float32" or "float64", got {header["dtype"]!r}')
    n_params = Layout(sizes).n_params
    params = _check_array(archive, "params", members["params"], n_params, dtype)
    velocity = _check_array(archive, "velocity", members["velocity"], n_params, dtype)
    second_moment = None
    if optimizer == "adam":
        second_moment = _check_array(archive, ADAM_MEMBER, members[ADAM_MEMBER],
                                     n_params, dtype)
        negative = second_moment < 0
        if negative.any():
            raise _Invalid(f"{ADAM_MEMBER} is negative (first at index "
                           f"{int(np.argmax(negative))}), but it is a mean of squares")
    try:
        rng = generator_from_json(header["rng"])
    except ValueError as exc:
        raise _Invalid(str(exc)) from None

    schemes = header["init_schemes"]
    matmul_dtype = header["matmul_dtype"] if header["version"] >= 3 else None
    if matmul_dtype not in (None, "bfloat16"):
        raise _Invalid(f'"matmul_dtype" must be null or "bfloat16", got {short(matmul_dtype)}')
    try:
        net = cls(list(sizes), activation=list(header["hidden_activations"]),
                  loss=header["loss"], output=header["output_activation"],
                  init=schemes[0] if len(set(schemes)) == 1 else None,
                  l2=header["l2"], dtype=dtype, seed=0, matmul_dtype=matmul_dtype)
    except (ValueError, TypeError) as exc:
        raise _Invalid(f"the header describes an invalid model: {exc}") from None
    if net.init_schemes != schemes:
        raise _Invalid(f'"init_schemes" {short(schemes)} is not a valid init for '
                       f"{len(sizes) - 1} layers with these activations")
    # The constructor built the buffers and their views in the class's own
    # layout; fill them in place, through the views.
    net._layout.from_canonical(params, net.params)
    net._layout.from_canonical(velocity, net.velocity)
    net.optimizer = optimizer
    if second_moment is not None:
        net.second_moment = np.empty_like(net.params)
        net._layout.from_canonical(second_moment, net.second_moment)
    net.optimizer_steps = steps
    net.feature_names = _check_feature_names(header, net.layer_sizes[0])
    try:
        _metadata.from_json(header, net)
    except _metadata.Invalid as exc:
        raise _Invalid(str(exc)) from None
    net.history = history
    net.rng = rng
    return net


def load(cls, path):
    """A new ``cls`` model read from ``path``; ValueError if the file is not a
    valid model file (OSError if it cannot be opened)."""
    path = _fspath(path)
    with open(path, "rb") as f:
        file_size = os.fstat(f.fileno()).st_size
        try:
            try:
                archive = np.load(f, allow_pickle=False)
            except Exception as exc:
                raise _Invalid(f"not an .npz archive ({type(exc).__name__}: {exc})") from None
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise _Invalid("not an .npz archive (a single .npy array)")
            with archive:
                return _load_archive(cls, archive, file_size)
        except _Invalid as exc:
            raise ValueError(f"invalid fastmlp model file {path!r}: {exc}") from None
