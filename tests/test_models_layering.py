"""Shape of `mmbench/models/`: imports go one way (deferred imports inside functions count), the
`hf/` modules import only the modules docs/architecture.md lists below them, no module is over
600 lines, and the adapter-code hash of model memos covers every adapter source file."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mmbench.models
from mmbench.models.lazy import adapter_code_hash

MODELS = Path(mmbench.models.__file__).parent
# docs/architecture.md, "models": each imports only those after it.
HF_ORDER = ["loading", "dual_encoder", "generator", "adapter", "families", "source", "model_args"]


PACKAGE = MODELS.parent


def module_name(path: Path) -> str:
    parts = ("mmbench", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """mmbench modules `path` imports anywhere in its body (top level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return {name for name in found if name in known}


def import_graph(folder: Path) -> dict[str, set[str]]:
    """Module -> the modules of `folder` (a package folder under mmbench/) it imports."""
    paths = {module_name(p): p for p in folder.rglob("*.py")}
    known = set(paths)
    return {name: imported_modules(path, known) - {name} for name, path in paths.items()}


def model_graph() -> dict[str, set[str]]:
    return import_graph(MODELS)


def assert_no_cycle(graph: dict[str, set[str]]) -> None:
    """Fail naming the first import cycle found by a depth-first walk of `graph`."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join([*path, node, nxt]))
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_no_import_cycle_in_models_counting_deferred_imports() -> None:
    assert_no_cycle(model_graph())


def test_hf_modules_import_only_modules_below_them() -> None:
    """A module not in HF_ORDER (a new helper) counts as below all of them: it may import none."""
    graph = model_graph()
    prefix = "mmbench.models.hf."
    present = {n.removeprefix(prefix) for n in graph if n.startswith(prefix)}
    assert set(HF_ORDER) <= present
    assert graph["mmbench.models.hf"] == set()  # the package itself imports nothing
    for name in present:
        rank = HF_ORDER.index(name) if name in HF_ORDER else len(HF_ORDER)
        inside = {m.removeprefix(prefix) for m in graph[prefix + name] if m.startswith(prefix)}
        assert not inside & set(HF_ORDER[: rank + 1]), (name, inside)
    for name, imports in graph.items():
        if not name.startswith("mmbench.models.hf"):
            assert not {m for m in imports if m.startswith(prefix)} - {prefix + "loading"}, name


def test_no_models_module_over_600_lines() -> None:
    long = {
        str(p.relative_to(MODELS)): n
        for p in MODELS.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 600
    }
    assert long == {}


@pytest.mark.parametrize(
    "relative", ["hf/loading.py", "hf/generator.py", "hf/source.py", "hf/__init__.py", "common.py"]
)
def test_adapter_code_hash_covers_the_hf_package_and_shared_helpers(
    relative: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = adapter_code_hash()
    edited = MODELS / relative
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        return real(self) + (b"\n# edited\n" if self == edited else b"")

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    assert adapter_code_hash() != before


def test_no_import_cycle_in_the_whole_package_counting_deferred_imports() -> None:
    """The same rule for every mmbench module (issue 12: no cycle, deferred imports included)."""
    graph = import_graph(PACKAGE)
    assert graph["mmbench"] == set()  # so `import mmbench` (for the version) closes no cycle
    assert_no_cycle(graph)
