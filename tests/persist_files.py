"""Model files of earlier format versions, written as the fastmlp of that
version wrote them, for the tests of reading them.

Version 3 (fastmlp before the tabular models) stored the data handling of
``fastmlp train`` as three header fields, ``target_name``, ``class_labels``
and ``standardization``, between ``optimizer_steps`` and ``matmul_dtype``.
``write_version3`` writes such a file: the header fields in that order,
``json.dumps(header, allow_nan=False)`` as a 1-D uint8 member, then the
canonical arrays, by ``np.savez`` (as io/persist.py and io/metadata.py did
at version 3). The network part of the header and the arrays are those
``save`` writes today, which version 4 did not change.
"""
import json

import numpy as np

V3_METADATA = ("target_name", "class_labels", "standardization")
V4_ONLY = ("metrics", "preprocessor")


def read(path):
    """(header dict, {member: array}) of a model file."""
    with np.load(path, allow_pickle=False) as z:
        members = {k: z[k] for k in z.files}
    return json.loads(members["header"].tobytes().decode("utf-8")), members


def encode(header):
    """A header dict as the member save writes: UTF-8 strict JSON as uint8."""
    raw = json.dumps(header, allow_nan=False).encode("utf-8")
    return np.frombuffer(raw, dtype=np.uint8)


def write(path, header, members):
    """An archive of ``header`` and the other ``members``, header first."""
    arrays = {k: a for k, a in members.items() if k != "header"}
    with open(path, "wb") as f:  # a file object: np.savez appends no suffix
        np.savez(f, allow_pickle=False, header=encode(header), **arrays)


def standardization_to_json(std):
    """Version 3's "standardization" value of a dict of arrays (or None)."""
    if std is None:
        return None
    return {k: None if std[k] is None else np.asarray(std[k], dtype=np.float64).tolist()
            for k in ("mean", "scale", "target_mean", "target_scale")}


def version3_header(header, target_name=None, class_labels=None, standardization=None):
    """A version-4 header of a plain network rewritten as version 3 wrote it,
    with the given metadata."""
    if header["version"] != 4 or header["preprocessor"] is not None:
        raise ValueError("expected the version-4 header of a network saved alone")
    out = {}
    for key, value in header.items():
        if key in V4_ONLY:
            continue
        if key == "matmul_dtype":
            out["target_name"] = target_name
            out["class_labels"] = None if class_labels is None else list(class_labels)
            out["standardization"] = standardization_to_json(standardization)
        out[key] = value
    out["version"] = 3
    return out


def write_version3(path, net, target_name=None, class_labels=None, standardization=None):
    """``net`` written to ``path`` as a version-3 file holding the metadata."""
    net.save(path)
    header, members = read(path)
    write(path, version3_header(header, target_name, class_labels, standardization),
          members)
