"""The package's shape: no import cycles, and every import kept inside a function says why."""

import re
from pathlib import Path

from tests.import_graph import PACKAGE_DIR, find_cycles, read_graph


def test_no_module_imports_itself_through_others():
    edges, _local = read_graph()
    assert find_cycles(edges) == []


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
