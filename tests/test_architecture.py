"""The code's shape: no import cycles, and each tier imports only what its process has."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts" / "import_graph.py")
import_graph = importlib.util.module_from_spec(_spec)
sys.modules["import_graph"] = import_graph
_spec.loader.exec_module(import_graph)


def test_the_import_graph_has_no_cycles():
    assert import_graph.cycles(import_graph.graph()) == []


def reachable(start: str, g: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        mod = todo.pop()
        if mod not in seen:
            seen.add(mod)
            todo.extend(g.get(mod, ()))
    return seen


def test_each_tier_imports_only_what_its_process_has():
    g = import_graph.graph()
    third_party = import_graph.external(("flask", "flask_socketio", "torch", "torchvision", "eventlet"))
    for mod in g:
        used = set().union(*(third_party[m] for m in reachable(mod, g)))
        tops = {name.split(".")[0] for name in used}
        if mod.startswith("shared"):
            assert not tops & {"flask", "flask_socketio", "torch", "torchvision"}, (mod, tops)
        if mod.startswith("worker"):
            assert not tops & {"flask", "flask_socketio"}, (mod, tops)
        if mod.startswith("web"):
            assert not tops & {"torch", "torchvision"}, (mod, tops)
        if mod.startswith("web") and mod != "web.__main__":
            assert "eventlet" not in tops, f"{mod}: eventlet only in the entry point (async-mode agnostic)"


def test_where_things_live_names_every_module():
    """docs/architecture.md's table is the map for whoever changes the code next: every
    module of the three packages and every page module is named in it, so a new file
    without a row (or a row naming a file that is gone) fails here."""
    doc = (ROOT / "docs" / "architecture.md").read_text()
    table = doc.split("## Where things live", 1)[1].split("\n## ", 1)[0]
    modules = [
        p.relative_to(ROOT).as_posix()
        for package in ("shared", "web", "worker")
        for p in (ROOT / package).rglob("*.py")
        if p.name not in ("__init__.py", "__main__.py") and "node_modules" not in p.parts
    ]
    pages = [p.name for p in (ROOT / "web" / "static" / "js").glob("*.js")]
    # A module is named by its path, or by its bare name where no other module has that name.
    names = Counter(Path(m).name for m in modules)
    missing = [
        m for m in modules if f"`{m}`" not in table and not (names[Path(m).name] == 1 and f"`{Path(m).name}`" in table)
    ]
    missing += [name for name in pages if f"`{name}`" not in table]
    assert missing == [], f"not in docs/architecture.md's 'Where things live': {missing}"
    named = re.findall(r"`([\w/.]+\.(?:py|js))`", table)
    known = set(modules) | {Path(m).name for m in modules} | set(pages)
    gone = [name for name in named if name not in known and not (ROOT / name).exists()]
    assert gone == [], f"docs/architecture.md names files that do not exist: {gone}"
