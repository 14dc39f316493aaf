"""The project's import graph (every import, lazy ones included), and its cycles.

    python scripts/import_graph.py          # one line per module: what it imports
    python scripts/import_graph.py --dot    # Graphviz
Exits 1 when there is a cycle. tests/test_architecture.py checks the same, plus the
split by process (shared/ imports neither Flask nor torch, ...).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("shared", "web", "worker", "trainboard_cli")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Absolute names of everything ``path`` imports, at any depth of the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def graph() -> dict[str, set[str]]:
    """Project module → project modules it imports."""
    files = {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if "node_modules" not in p.parts}
    return {mod: {name for name in imports_of(path) if name in files and name != mod} for mod, path in files.items()}


def external(prefixes: tuple[str, ...]) -> dict[str, set[str]]:
    """Project module → third-party imports starting with one of ``prefixes``."""
    files = {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if "node_modules" not in p.parts}
    return {mod: {n for n in imports_of(path) if n.split(".")[0] in prefixes} for mod, path in files.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle found by a depth-first search (each reported once, from its first node)."""
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(g.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(g):
        if node not in state:
            visit(node)
    return found


def main() -> int:
    g = graph()
    if "--dot" in sys.argv:
        print("digraph imports {")
        for mod in sorted(g):
            for dep in sorted(g[mod]):
                print(f'  "{mod}" -> "{dep}";')
        print("}")
    else:
        for mod in sorted(g):
            print(f"{mod:28} -> {', '.join(sorted(g[mod])) or '-'}")
    found = cycles(g)
    for cycle in found:
        print("CYCLE: " + " -> ".join(cycle), file=sys.stderr)
    print(f"{len(g)} modules, {sum(map(len, g.values()))} imports, {len(found)} cycles", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
