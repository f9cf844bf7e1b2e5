"""Memory of a fit on sparse X: O(nnz(X) + parameters + batch x widest
layer), measured in a child process (ru_maxrss) on a matrix whose dense
form would not fit in memory: 50,000 x 2,000,000 at 20 non-zeros a row
(dense float32: 400 GB; CSR: 8 MB of values, 4 MB of indices)."""
import json
import os
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent("""
    import json, resource
    import numpy as np, scipy.sparse as sp
    import fastmlp

    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    n, d, per_row, hidden, batch = 50_000, 2_000_000, 20, 8, 256
    rng = np.random.default_rng(0)
    indptr = np.arange(0, (n + 1) * per_row, per_row, dtype=np.int64)
    indices = rng.integers(0, d, n * per_row).astype(np.int32)
    data = rng.random(n * per_row, dtype=np.float32)
    X = sp.csr_matrix((data, indices, indptr), shape=(n, d))
    y = rng.integers(0, 2, n)
    del indices, data
    with_data = peak()
    net = fastmlp.MLP([d, hidden, 2], loss="cross_entropy", seed=0)
    net.fit(X, y, epochs=1, batch_size=batch)
    net.predict(X[:1000])
    print(json.dumps(dict(with_data=with_data, peak=peak(), params=net.params.nbytes,
                          nnz=X.nnz, rows=n, batch=batch, hidden=hidden,
                          finite=bool(np.isfinite(net.params).all()))))
""")


def test_fit_memory_is_linear_in_nnz_and_parameters():
    env = dict(os.environ)
    if "ASAN_OPTIONS" in env:
        # Under AddressSanitizer (tools/sanitize.sh) freed memory is held in
        # a quarantine that would count as resident: none for this child.
        env["ASAN_OPTIONS"] += ":quarantine_size_mb=0"
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                         timeout=600, check=True, env=env)
    m = json.loads(out.stdout.strip().splitlines()[-1])
    assert m["finite"]
    # What the fit may add to the process that already holds X and y: the
    # parameters, velocity and the initialization's float64 draw (4 + 4 + 8
    # bytes a parameter: 16 x params/4), the canonical CSR copy and scipy's
    # temporaries on the way (indptr 8 B a row, indices + values 8 B a
    # non-zero, at most 3 copies alive), the workspace and the gathered batch
    # (batch x widest layer, a few MB), and 64 MB for allocator and
    # interpreter slack. Dense X alone would be 400e9 bytes.
    expected = (4 * m["params"] + 3 * (8 * m["rows"] + 8 * m["nnz"])
                + 16 * m["batch"] * (m["hidden"] + 2) + 64 * 2**20)
    grown = m["peak"] - m["with_data"]
    assert grown <= expected, (
        f"fit grew the peak RSS by {grown / 2**20:.0f} MB, more than the "
        f"{expected / 2**20:.0f} MB of O(nnz + params + batch x width)")
