"""Saving and loading models: ``net.save(path)``, ``TabularModel.save(path)``,
``MLP.load(path)`` and ``fastmlp.load(path)``.

Writes the file format "fastmlp-mlp" (version 4; versions 1 to 3 are read
too) atomically, and reads it back validating every field and array before
a model is built from it. The format, what each version changed and the
guarantees of save and load are specified in docs/file-format.md.
"""
import json
import math
import os
import zipfile

import numpy as np

from . import metadata as _metadata
from . import metrics as _metrics
from ..inputs import validation as v
from .atomic import atomic_write
from ..network.layout import Layout
from .rngstate import generator_from_json, generator_to_json, json_type, short

FORMAT_NAME = "fastmlp-mlp"
FORMAT_VERSION = 4  # what save writes
READABLE_VERSIONS = (1, 2, 3, 4)

HEADER_FIELDS_V1 = (
    "format", "version", "layer_sizes", "hidden_activations", "loss",
    "output_activation", "init_schemes", "l2", "dtype", "history", "rng",
)
HEADER_FIELDS_V2 = HEADER_FIELDS_V1 + ("feature_names", "optimizer", "optimizer_steps")
HEADER_FIELDS_V3 = HEADER_FIELDS_V2 + _metadata.FIELDS + ("matmul_dtype",)
HEADER_FIELDS = HEADER_FIELDS_V2 + ("matmul_dtype", "metrics", "preprocessor")
FIELDS_BY_VERSION = {1: HEADER_FIELDS_V1, 2: HEADER_FIELDS_V2, 3: HEADER_FIELDS_V3,
                     4: HEADER_FIELDS}
MEMBERS = ("header", "params", "velocity")  # in every file
ADAM_MEMBER = "second_moment"               # in version 2, exactly with adam
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
    if not isinstance(name, str) or name not in v.OPTIMIZERS:
        raise ValueError(f"cannot save: unknown optimizer {short(name)}; "
                         f"expected one of {', '.join(map(repr, v.OPTIMIZERS))}")
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


def _header(model, optimizer, steps, preprocessor):
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
        "matmul_dtype": model.matmul_dtype,
        "metrics": _metrics.to_json(model.metrics, len(history)),
        "preprocessor": _preprocessor_to_json(preprocessor, model),
    }


def _preprocessor_to_json(preprocessor, model):
    """The stored form of ``preprocessor``, checked as load checks it, so
    that save never writes a file load would reject."""
    if preprocessor is None:
        return None
    from ..tabular import stored

    obj = preprocessor.to_json()
    try:
        stored.from_json(obj, model.layer_sizes, model.loss_name)
    except stored.Invalid as exc:
        raise ValueError(f"cannot save: {exc}") from None
    return obj


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


def save(model, path, preprocessor=None):
    """Write ``model`` (and the fitted ``preprocessor`` in front of it) to
    ``path`` in the format described above."""
    path = _fspath(path)
    arrays = {"params": _canonical_buffer(model, "params"),
              "velocity": _canonical_buffer(model, "velocity")}
    optimizer, steps, second_moment = _optimizer_state(model)
    if second_moment is not None:
        arrays[ADAM_MEMBER] = second_moment
    header_bytes = json.dumps(_header(model, optimizer, steps, preprocessor),
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
    if not isinstance(name, str) or name not in v.OPTIMIZERS:
        raise _Invalid(f'"optimizer" must be one of {", ".join(map(repr, v.OPTIMIZERS))}, '
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
    if matmul_dtype not in (None,) + v.MATMUL_DTYPES:
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
    net.history = history
    net.rng = rng
    try:
        preprocessor = _stored_preprocessor(header, net)
        if header["version"] >= 4:
            net.metrics = _metrics.from_json(header["metrics"], len(history))
    except (_metadata.Invalid, _metrics.Invalid) as exc:
        raise _Invalid(str(exc)) from None
    return net, preprocessor


def _stored_preprocessor(header, net):
    """The preprocessor in front of the network: version 4's own, the one a
    version-3 file's metadata stands for, or None."""
    from ..tabular import stored

    try:
        if header["version"] >= 4:
            obj = header["preprocessor"]
            return None if obj is None else stored.from_json(obj, net.layer_sizes,
                                                             net.loss_name)
        if header["version"] == 3:
            meta = _metadata.from_json(header, net)
            return stored.from_version3(net.feature_names, *meta, net.layer_sizes)
    except stored.Invalid as exc:
        raise _metadata.Invalid(str(exc)) from None
    return None


def load(cls, path):
    """A new ``cls`` model read from ``path``; ValueError if the file is not a
    valid model file, or if it holds data handling that the network alone
    would ignore (OSError if it cannot be opened)."""
    net, preprocessor = load_any(cls, path)
    if preprocessor is not None:
        raise ValueError(f"{path!r} holds a model with its data handling (written by "
                         f"fastmlp train or TabularModel.save: column scaling, "
                         f"encodings or class labels), which {cls.__name__}.load would "
                         f"ignore: load it with fastmlp.load(path)")
    return net


def load_any(cls, path):
    """(the ``cls`` network, its Preprocessor or None) read from ``path``."""
    path = _fspath(path)
    with open(path, "rb") as f:
        file_size = os.fstat(f.fileno()).st_size
        try:
            try:
                archive = np.load(f, allow_pickle=False)
            except Exception as exc:
                f.seek(0)
                raise _Invalid(f"not an .npz archive (a model file is one; this file starts "
                               f"with {f.read(16)!r})") from None
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise _Invalid("not an .npz archive (a single .npy array)")
            with archive:
                return _load_archive(cls, archive, file_size)
        except _Invalid as exc:
            raise ValueError(f"invalid fastmlp model file {path!r}: {exc}") from None
