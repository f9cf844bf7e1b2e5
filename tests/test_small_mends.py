"""Packaging: the extra ``fastmlp[onnx]`` installs every ONNX module the
README, the docs and the examples import."""
import ast
import re
import textwrap
from pathlib import Path

import pytest
from packaging.requirements import Requirement

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent


def _extras():
    with open(ROOT / "pyproject.toml", "rb") as f:
        extras = tomllib.load(f)["project"]["optional-dependencies"]
    return {name: {r.name: r for r in map(Requirement, reqs)} for name, reqs in extras.items()}


def _code():
    """(where, source) of every example script and every ```python block
    of the README and docs."""
    for path in sorted((ROOT / "examples").glob("*.py")):
        yield path.name, path.read_text()
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        # Blocks inside list items are indented as their fences are.
        blocks = re.findall(r"^([ \t]*)```python\n(.*?)^\1```", path.read_text(), re.S | re.M)
        for i, (_, block) in enumerate(blocks):
            yield f"{path.name} block {i}", textwrap.dedent(block)


def _imported(source):
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_onnx_extra_holds_every_onnx_module_the_examples_import():
    onnx_extra = _extras()["onnx"]
    used = {}
    for where, source in _code():
        for name in _imported(source):
            if name.startswith("onnx"):
                used.setdefault(name, where)
    assert "onnxruntime" in used  # the README runs the export in it
    missing = {name: where for name, where in used.items() if name not in onnx_extra}
    assert not missing, f"imported but not in fastmlp[onnx]: {missing}"


def test_the_onnx_extra_asks_the_versions_the_tests_run():
    extras = _extras()
    for name, requirement in extras["onnx"].items():
        assert requirement.specifier == extras["test"][name].specifier, name
