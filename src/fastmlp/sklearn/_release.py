"""The scikit-learn releases fastmlp.sklearn supports, and the check made
when it is imported.

The estimators subclass scikit-learn's and override some of its private
methods; those changed across the releases below and fastmlp.sklearn._compat
adapts to each. Older releases lack APIs the estimators build on (the
private methods' signatures, the parameter validation they inherit); a
next major release may change the private methods in ways no shim can
foresee, so both are refused at import with a message naming the range.
"""
# (major, minor) of the oldest supported release, and of the first release
# not supported.
OLDEST = (1, 5)
FIRST_UNSUPPORTED = (2, 0)
INSTALL_HINT = 'pip install "fastmlp[sklearn]"'


def release(version):
    """(major, minor) of a version string: '1.5.2' -> (1, 5),
    '1.10.dev0' -> (1, 10), '1.4.1.post1' -> (1, 4)."""
    if not isinstance(version, str):
        raise TypeError(f"version must be a str, got {type(version).__name__}")
    parts = []
    for piece in version.split(".")[:2]:
        # Only the leading digits count: '0rc1' -> 0.
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        parts.append(int(digits) if digits else 0)
    while len(parts) < 2:
        parts.append(0)
    return tuple(parts)


def supported_range():
    """The supported releases as a requirement string, e.g. '>=1.5,<2.0'."""
    return (f">={'.'.join(map(str, OLDEST))},"
            f"<{'.'.join(map(str, FIRST_UNSUPPORTED))}")


def check_release(version):
    """Raise ImportError naming the supported range if scikit-learn
    ``version`` (a version string) is outside it."""
    if not OLDEST <= release(version) < FIRST_UNSUPPORTED:
        raise ImportError(
            f"fastmlp.sklearn supports scikit-learn {supported_range()}; found {version}. "
            f"Install a supported release with: {INSTALL_HINT}")
