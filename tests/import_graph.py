"""
The package's import graph, read from the source with ``ast`` (nothing is imported):
which module imports which at module level, and which imports sit inside functions.
``python -m tests.import_graph`` prints the cycles and every function-level import.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "enterspeed_sync"


@dataclass(frozen=True)
class LocalImport:
    """An import statement inside a function, with the comment that says why it is there."""

    module: str
    line: int
    statement: str
    comment: str


def module_files(package_dir: Path = PACKAGE_DIR) -> dict[str, Path]:
    """``{dotted module name: file}`` for every module of the package but its migrations."""
    files = {}
    for path in sorted(package_dir.rglob("*.py")):
        relative = path.relative_to(package_dir.parent).with_suffix("")
        if "migrations" in relative.parts:
            continue
        parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
        files[".".join(parts)] = path
    return files


def _imported_names(module: str, is_package: bool, node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    assert isinstance(node, ast.ImportFrom)
    base = node.module or ""
    if node.level:
        parts = module.split(".") if is_package else module.split(".")[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join([*parts, *([node.module] if node.module else [])])
    return [f"{base}.{alias.name}" for alias in node.names]


def _owning_module(name: str, modules: dict[str, Path]) -> str | None:
    """The module ``name`` is (a submodule) or lives in (a function, class or constant)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _comment_for(lines: list[str], node: ast.stmt) -> str:
    """The comment on the import's own lines or on the comment lines right above it."""
    own = " ".join(lines[node.lineno - 1 : node.end_lineno])
    if "#" in own and not own.split("#", 1)[1].strip().startswith("noqa"):
        return own.split("#", 1)[1].strip()
    above = []
    index = node.lineno - 2
    while index >= 0 and lines[index].strip().startswith("#"):
        above.insert(0, lines[index].strip().lstrip("#").strip())
        index -= 1
    return " ".join(above)


@dataclass
class _Module:
    name: str
    is_package: bool
    lines: list[str]
    modules: dict[str, Path]
    edges: set[str] = field(default_factory=set)
    local: list[LocalImport] = field(default_factory=list)

    def visit(self, node: ast.AST, *, in_function: bool) -> None:
        # A comment above a run of imports covers the whole run.
        run_comment = ""
        for child in ast.iter_child_nodes(node):
            if _is_type_checking(child):
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                run_comment = _comment_for(self.lines, child) or run_comment
                self.add(child, in_function=in_function, comment=run_comment)
                continue
            run_comment = ""
            function = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            self.visit(child, in_function=in_function or function)

    def add(self, node: ast.Import | ast.ImportFrom, *, in_function: bool, comment: str) -> None:
        if in_function:
            self.local.append(LocalImport(self.name, node.lineno, ast.unparse(node), comment))
            return
        for imported in _imported_names(self.name, self.is_package, node):
            target = _owning_module(imported, self.modules)
            if target and target != self.name:
                self.edges.add(target)


def read_graph(package_dir: Path = PACKAGE_DIR):
    """``(module-level edges, function-level imports)`` of the package."""
    modules = module_files(package_dir)
    edges: dict[str, set[str]] = {name: set() for name in modules}
    local: list[LocalImport] = []
    for name, path in modules.items():
        source = path.read_text()
        module = _Module(name, path.name == "__init__.py", source.splitlines(), modules)
        module.visit(ast.parse(source), in_function=False)
        edges[name] = module.edges
        local.extend(module.local)
    # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
    for name in modules:
        for target in list(edges[name]):
            parts = target.split(".")
            for end in range(1, len(parts)):
                parent = ".".join(parts[:end])
                if parent in modules and not name.startswith(parent + ".") and parent != name:
                    edges[name].add(parent)
    return edges, local


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every group of modules that import each other, directly or through others (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges[node]):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return cycles


def report() -> str:
    edges, local = read_graph()
    cycles = find_cycles(edges)
    lines = [f"{len(edges)} modules, {len(cycles)} import cycles"]
    lines += ["  cycle: " + " → ".join(group) for group in cycles]
    lines.append(f"{len(local)} function-level imports")
    lines += [
        f"  {item.module}:{item.line}  {item.statement}  # {item.comment or '(no reason)'}"
        for item in local
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(report())
