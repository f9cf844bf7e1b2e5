"""The performance targets of the benchmark report (``report.py``).

Per config, a bound on fastmlp's time per training step: an absolute one in
microseconds for the small networks, where per-step overhead is what counts,
or a bound on the ratio to the GEMM floor for the larger ones, where the
GEMMs dominate and the ratio is what the code controls. They were set from
the 2-vCPU AMD EPYC (Zen 4) machine of the README's table, one BLAS thread,
and are claims about that machine, not about the package: so they live here
with the benchmarks, and the installed ``fastmlp bench`` prints timings and
ratios without them.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """At most ``us`` microseconds per step, or at most ``ratio`` times the
    GEMM floor's time per step: one of the two."""
    us: float = None
    ratio: float = None

    def __post_init__(self):
        if (self.us is None) == (self.ratio is None):
            raise ValueError("a target is either us= or ratio=")

    @property
    def text(self):
        return f"<= {self.us:g} us" if self.us is not None else f"<= {self.ratio:g}x floor"

    def met(self, result):
        """Whether a result of ``fastmlp.cli.bench.summarize`` meets the target."""
        if self.us is not None:
            return result["fastmlp_us"] <= self.us
        return result["fastmlp_us"] <= self.ratio * result["floor_us"]


TARGETS = {
    "tiny": Target(us=6.0),
    "tiny64": Target(us=9.0),
    "small": Target(ratio=1.08),
    "medium": Target(ratio=1.04),
    "medium_tanh": Target(ratio=1.06),
    "medium_sigmoid": Target(ratio=1.06),
    "large": Target(ratio=1.02),
    "reg": Target(us=12.0),
}


def target_text(name):
    """The target of config ``name`` as the report's table shows it."""
    return TARGETS[name].text if name in TARGETS else "-"
