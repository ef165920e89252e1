"""The package's shape: no import cycles, and every import kept inside a function says why."""

from tests.import_graph import find_cycles, read_graph


def test_no_module_imports_itself_through_others():
    edges, _local = read_graph()
    assert find_cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(edges) == [["a", "b", "c"]]
