"""The package's shape: no import cycles, and every import kept inside a function says why."""

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from tests.import_graph import PACKAGE_DIR, find_cycles, read_graph


def test_no_module_imports_itself_through_others():
    edges, _local = read_graph()
    assert find_cycles(edges) == []


#: Packages that must not import others, even through a third module or inside a function:
#: settings are read by everything, so they import none of what reads them.
FORBIDDEN_IMPORTS = {
    "enterspeed_sync.conf": ["enterspeed_sync.delivery"],
}


def reachable(edges, start: set[str]) -> set[str]:
    seen, todo = set(), list(start)
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(edges.get(module, ()))
    return seen


def in_package(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_layers_import_only_downwards():
    edges, local = read_graph()
    for package, forbidden in FORBIDDEN_IMPORTS.items():
        own = {module for module in edges if in_package(module, package)}
        wrong = sorted(
            module
            for module in reachable(edges, own)
            if any(in_package(module, other) for other in forbidden)
        )
        assert wrong == [], f"{package} imports {wrong}"
        inside = [
            f"{item.module}:{item.line} {item.statement}"
            for item in local
            if item.module in own and any(other in item.statement for other in forbidden)
        ]
        assert inside == [], f"{package} imports inside a function: {inside}"


def test_the_layer_rule_finds_an_import_through_another_module():
    edges = {"a.conf": {"a.util"}, "a.util": {"a.delivery.client"}, "a.delivery.client": set()}
    assert "a.delivery.client" in reachable(edges, {"a.conf"})


def test_the_cycle_finder_finds_a_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(edges) == [["a", "b", "c"]]


def test_every_import_inside_a_function_says_why():
    _edges, local = read_graph()
    unexplained = [f"{i.module}:{i.line} {i.statement}" for i in local if not i.comment]
    assert unexplained == []


def test_docs_architecture_lists_every_package_and_module():
    table = (Path(__file__).parent.parent / "docs" / "architecture.md").read_text()
    listed = set(re.findall(r"`([a-z_]+)(?:/|\.py)`", table))
    present = {
        path.stem if path.is_file() else path.name
        for path in PACKAGE_DIR.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__")
        or (path.is_dir() and (path / "__init__.py").exists())
    }
    assert present - listed == set(), "add these to docs/architecture.md"
    assert listed - present == set(), "docs/architecture.md lists what is not there"


def test_the_old_operations_path_warns_and_names_the_new_one():
    from enterspeed_sync import actions, operations

    with pytest.warns(DeprecationWarning, match="enterspeed_sync.actions.retry_jobs"):
        assert operations.retry_jobs is actions.retry_jobs
    with pytest.raises(AttributeError):
        operations.no_such_action  # noqa: B018


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_package_the_code_imports_is_declared():
    pyproject = tomllib.loads((PACKAGE_DIR.parent / "pyproject.toml").read_text())
    declared = {
        canonical(re.match(r"[A-Za-z0-9._-]+", requirement).group())
        for requirement in pyproject["project"]["dependencies"]
    }
    imported = set()
    for path in PACKAGE_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"enterspeed_sync"}
    distributions = packages_distributions()
    undeclared = {
        name: distributions.get(name, [name])
        for name in sorted(third_party)
        if not declared & {canonical(dist) for dist in distributions.get(name, [name])}
    }
    assert undeclared == {}, "add these to dependencies in pyproject.toml"
