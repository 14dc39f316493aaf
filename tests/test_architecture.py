"""The code's shape: no import cycles, and each tier imports only what its process has."""

from __future__ import annotations

import importlib.util
import sys
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
