"""The product package's shape: layers only import downward, no import cycles, nothing read at
import, no dev code inside."""

from __future__ import annotations

import ast
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import migration_app

PACKAGE_DIR = Path(migration_app.__file__).parent


def _modules() -> dict[str, Path]:
    out = {"migration_app": PACKAGE_DIR / "__init__.py"}
    for info in pkgutil.walk_packages([str(PACKAGE_DIR)], prefix="migration_app."):
        spec = info.module_finder.find_spec(info.name, None)  # type: ignore[call-arg]
        if spec is not None and spec.origin:
            out[info.name] = Path(spec.origin)
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """Package modules ``module`` imports (anywhere but under ``if TYPE_CHECKING:``)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{alias.name}" for alias in node.names]
            if not all(name in known for name in names):
                names.append(base)  # a name taken from the module itself, not only submodules
        else:
            names = []
        found.update(name for name in names if name in known and name != module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return out


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles_in_the_product_package() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, set(modules)) for name, path in modules.items()}
    # A parent package's __init__ is imported by its children implicitly, not a dependency.
    cycles = _cycles(graph)
    assert not cycles, "import cycles (TYPE_CHECKING imports excluded):\n" + "\n".join(
        " <-> ".join(c) for c in cycles
    )


#: The layers of the product, lowest first. A module may import its own layer or a lower one,
#: never a higher one (imports under ``if TYPE_CHECKING:`` excepted). A module belongs to the
#: layer of the longest prefix below that names it ("" is the package itself).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # leaves: what other services see, private-API shims, retry delays, token rules, and the
    # fault point names (settings refuse an unknown one at start)
    ("contracts", ("contracts", "compat", "backoff", "tokens", "worker.fault_points")),
    ("domain", ("migration",)),  # pure: mapping, transforms, plans; no I/O
    ("settings", ("settings",)),
    # instruments every layer above may count with or scrub through
    ("instruments", ("ops.metrics", "ops.process", "ops.redaction")),
    ("clients", ("salesforce", "registry", "audit", "client_config")),
    # the load strategies and the V2 reference data: used by the worker, verify and rollback
    (
        "load",
        (
            "worker.pipeline",
            "worker.bulk_load",
            "worker.conflict_guard",
            "worker.reference_cache",
            "worker.files",
            "worker.file_budget",
        ),
    ),
    # plan + execution (the worker runs verify's and rollback's; resync's runs in its command)
    ("verify/rollback", ("verify", "rollback", "resync")),
    ("worker", ("worker",)),
    ("ops", ("ops",)),
    ("web", ("web",)),
    ("cli", ("cli", "verify.command", "rollback.command", "resync.command")),
    ("app", ("", "app", "main", "__main__")),
)


def _layer(module: str) -> int:
    name = module.removeprefix("migration_app").removeprefix(".")
    best, best_len = None, -1
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            matches = name == prefix or name.startswith(prefix + ".") or prefix == ""
            if matches and len(prefix) > best_len:
                best, best_len = rank, len(prefix)
    assert best is not None, module
    return best


def _upward_imports(graph: dict[str, set[str]]) -> list[str]:
    out = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            if module.startswith(target + "."):
                continue  # a parent package: Python imports it first anyway
            if _layer(target) > _layer(module):
                out.append(
                    f"{module} ({LAYERS[_layer(module)][0]}) imports "
                    f"{target} ({LAYERS[_layer(target)][0]})"
                )
    return out


def test_every_module_has_a_layer_and_each_package_a_single_one() -> None:
    packages: dict[str, set[int]] = {}
    for name in _modules():
        parts = name.split(".")
        if len(parts) > 2:
            packages.setdefault(parts[1], set()).add(_layer(name))
    # the named exceptions (fault_points, pipeline, ...) are the only split rooms
    split = {p for p, ranks in packages.items() if len(ranks) > 1}
    assert split <= {"worker", "ops", "verify", "rollback", "resync"}, split


def test_the_layer_finder_finds_an_upward_import() -> None:
    graph = {
        "migration_app.worker.pipeline": {"migration_app.contracts.events"},
        "migration_app.salesforce.client": {"migration_app.worker.processor"},
        "migration_app.worker.processor": {"migration_app.worker"},
    }
    assert _upward_imports(graph) == [
        "migration_app.salesforce.client (clients) imports migration_app.worker.processor (worker)"
    ]


def test_no_module_imports_a_higher_layer() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, set(modules)) for name, path in modules.items()}
    upward = _upward_imports(graph)
    assert not upward, "imports pointing up a layer (see LAYERS):\n" + "\n".join(upward)


def test_the_product_never_imports_the_dev_services() -> None:
    offenders = sorted(
        name
        for name, path in _modules().items()
        if any(
            isinstance(node, ast.ImportFrom | ast.Import)
            and any(
                (getattr(node, "module", None) or alias.name).split(".")[0] == "devstack"
                for alias in node.names
            )
            for node in ast.walk(ast.parse(path.read_text()))
        )
    )
    assert offenders == [], f"modules importing devstack (import it by name, lazily): {offenders}"
    assert not (PACKAGE_DIR / "devstack").exists()


def _clean_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")}


def test_every_module_but_the_worker_module_imports_with_an_empty_environment() -> None:
    names = sorted(
        n for n in _modules() if n not in ("migration_app.main", "migration_app.__main__")
    )
    code = "import importlib, sys\nfor n in sys.argv[1:]:\n    importlib.import_module(n)\n"
    result = subprocess.run(
        [sys.executable, "-c", code, *names],
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "migration_app", *args],
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_help_and_version_work_with_an_empty_environment() -> None:
    top = _cli("--help")
    assert top.returncode == 0, top.stderr
    for command in ("worker", "enqueue", "status", "preflight", "resync", "dev", "devstack"):
        assert f"  {command} " in top.stdout, command
    version = _cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("migration-app "), version
    for command in (
        "worker",
        "enqueue",
        "status",
        "preflight",
        "resync",
        "dev",
        "sandbox",
        "registry",
    ):
        sub = _cli(command, "--help")
        assert sub.returncode == 0, (command, sub.stderr)
        assert "usage" in sub.stdout.lower(), (command, sub.stdout)


def test_a_command_that_needs_configuration_names_the_missing_variables() -> None:
    for args in (("worker",), ("enqueue", "001000000000001AAA"), ("status", "x")):
        result = _cli(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "MIGRATION_SF1_CLIENT_ID" in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr, (args, result.stderr)


def _package_maps() -> dict[Path, str]:
    """Each package directory and its docstring (the map of its modules)."""
    out = {}
    for init in sorted(PACKAGE_DIR.rglob("__init__.py")):
        out[init.parent] = ast.get_docstring(ast.parse(init.read_text())) or ""
    return out


def _members(package: Path) -> list[str]:
    """What a package holds that a reader should find on its map: modules and subpackages."""
    out = []
    for child in sorted(package.iterdir()):
        if child.name.startswith("__") and child.name != "__main__.py":
            continue
        if child.suffix == ".py":
            out.append(child.stem)
        elif (child / "__init__.py").exists():
            out.append(child.name)
    return out


def test_every_module_is_on_its_package_map() -> None:
    missing = [
        f"{package.relative_to(PACKAGE_DIR.parent)}/: {name}"
        for package, doc in _package_maps().items()
        for name in _members(package)
        if f"``{name}``" not in doc and f"``{name}/``" not in doc
    ]
    assert not missing, "modules missing from their package's docstring:\n" + "\n".join(missing)


def _readme_layout() -> str:
    readme = (PACKAGE_DIR.parent / "README.md").read_text()
    return readme.split("## Project layout", 1)[1].split("\n## ", 1)[0]


def test_the_readme_layout_names_every_package_and_only_files_that_exist() -> None:
    layout = _readme_layout()
    packages = [p.relative_to(PACKAGE_DIR) for p in _package_maps() if p != PACKAGE_DIR]
    unnamed = [str(p) for p in packages if f"{p.name}/" not in layout]
    assert not unnamed, f"packages the README's layout does not name: {unnamed}"
    tree = {
        p.name
        for root in ("migration_app", "devstack", "benchmarks", "tests")
        for p in (PACKAGE_DIR.parent / root).rglob("*.py")
    }
    named = set(re.findall(r"\b([a-z_]+\.py)\b", layout))
    stale = sorted(named - tree - {"setup.py"})
    assert not stale, f"the README's layout names files that do not exist: {stale}"
