"""The machine and the library versions, as benchmarks/all_cores.py records them.

A timing means little without the processor, the cores the process may
use and what else was running: ``describe()`` reads them from lscpu (or
/proc/cpuinfo), the affinity mask, /proc/meminfo and the load average.
``versions()`` reads the installed versions from package metadata, without
importing the libraries (the parent process stays light; the children that
time the fits import them).
"""
import os
import platform
import subprocess
from importlib import metadata

FLAGS_OF_INTEREST = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
DISTRIBUTIONS = ("fastmlp", "numpy", "scipy", "threadpoolctl", "scikit-learn", "torch",
                 "jax", "jaxlib", "mkl", "onednn-cpu-gomp")


def affinity():
    """The CPUs this process may run on, sorted."""
    return sorted(os.sched_getaffinity(0))


def _lscpu():
    """lscpu's "Key: value" lines as a dict (empty when lscpu is missing)."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True,
                              env={**os.environ, "LC_ALL": "C"}).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    return dict((k.strip(), v.strip()) for k, _, v in
                (line.partition(":") for line in text.splitlines()) if v)


def _cpuinfo():
    """The first processor's fields of /proc/cpuinfo, named as lscpu names them."""
    names = {"model name": "Model name", "cpu family": "CPU family", "model": "Model",
             "flags": "Flags"}
    out = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in names and names[key] not in out:
                    out[names[key]] = value.strip()
    except OSError:
        pass
    return out


def _memory_gib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def describe():
    """The processor, its flags of interest, the cores and the memory."""
    fields = {**_cpuinfo(), **_lscpu()}
    flags = set(fields.get("Flags", "").split())
    cpus = affinity()
    return {
        "model_name": fields.get("Model name"),
        "vendor": fields.get("Vendor ID"),
        "cpu_family": fields.get("CPU family"),
        "model": fields.get("Model"),
        "flags": {f: f in flags for f in FLAGS_OF_INTEREST},
        "nproc": len(cpus),
        "cpu_count": os.cpu_count(),
        "affinity": cpus,
        "threads_per_core": fields.get("Thread(s) per core"),
        "l2_cache": fields.get("L2 cache"),
        "l3_cache": fields.get("L3 cache"),
        "hypervisor": fields.get("Hypervisor vendor"),
        "memory_total_gib": _memory_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg_at_start": list(os.getloadavg()),
    }


def versions():
    """Installed version of each distribution of interest (None: not installed)."""
    out = {}
    for name in DISTRIBUTIONS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
