"""The shape of the code: no import cycles, and the service never loads training code."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("watcher", "train")
# Where watcher/ may import train/: inside the functions of the commands that train, measure or convert a model.
TRAINING_COMMANDS = {"watcher.commands.train", "watcher.commands.evaluate", "watcher.commands.convert"}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(path: Path, modules: set[str]) -> list[tuple[str, bool]]:
    """(imported module of ours, whether at module level) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
                names = [child.module] + [f"{child.module}.{alias.name}" for alias in child.names]
            for name in names:
                while name and name not in modules:
                    name = name.rpartition(".")[0]
                if name:
                    found.append((name, top))
            visit(child, top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(tree, True)
    return found


def test_no_import_cycles():
    modules = _modules()
    graph = {
        name: {target for target, _ in _imports(path, set(modules)) if target != name} for name, path in modules.items()
    }
    # A package's __init__ reached from its own modules is not a cycle that breaks anything: leave it out.
    graph = {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in graph.items()}

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            current = todo.pop()
            for target in graph[current] - seen:
                if target == goal:
                    return True
                seen.add(target)
                todo.append(target)
        return False

    assert not [name for name in graph if reaches(name, name)]


def test_watcher_imports_train_only_inside_the_training_commands():
    modules = _modules()
    wrong = {
        f"{name} imports {target}{' at module level' if top else ''}"
        for name, path in modules.items()
        if name.split(".")[0] == "watcher"
        for target, top in _imports(path, set(modules))
        if target.split(".")[0] == "train"
        if top or name not in TRAINING_COMMANDS
    }
    assert not wrong


def test_the_command_line_loads_no_training_code_and_no_page_libraries():
    # Every command starts from watcher.cli, the service above all: pandas alone would add about 40 MB to it.
    heavy = ("train", "tensorflow", "keras", "pandas", "matplotlib", "fastapi", "uvicorn", "jinja2")
    code = (
        "import sys, watcher.cli; "
        f"loaded = sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})); "
        "assert not loaded, loaded"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


# Which rooms of watcher/ each room may import (at any depth of function): imports flow down this table,
# never up. docs/architecture.md draws it. A top-level module (watcher.protocol, watcher.clock, ...) is a
# room of its own; the foundation rooms below import nothing else of ours.
FOUNDATION = {"watcher", "protocol", "clock", "errors", "atomic", "cores", "settings", "signals"}
MAY_IMPORT = {
    "reading": FOUNDATION,
    "model": FOUNDATION | {"reading"},
    "results": FOUNDATION,
    "ops": FOUNDATION,
    "pipeline": FOUNDATION | {"reading", "model", "results", "ops"},
    # The three engines: each drives the pipeline, and none imports another.
    "service": FOUNDATION | {"reading", "model", "results", "ops", "pipeline"},
    "batch": FOUNDATION | {"reading", "model", "results", "ops", "pipeline"},
    "spark": FOUNDATION | {"reading", "model", "results", "ops", "pipeline", "cli"},  # cli: spark-submit's entry
    "review": FOUNDATION | {"reading", "model", "results", "ops"},
    "report": FOUNDATION | {"reading", "model", "results", "ops", "review"},
}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_imports_flow_one_way_between_rooms():
    modules = _modules()
    wrong = sorted(
        {
            f"{name} imports {target}"
            for name, path in modules.items()
            if name.split(".")[0] == "watcher"
            for target, _ in _imports(path, set(modules))
            if target.split(".")[0] == "watcher" and _room(target) != _room(name)
            if _room(name) in MAY_IMPORT and _room(target) not in MAY_IMPORT[_room(name)]
        }
    )
    assert not wrong


def test_every_room_is_placed_in_the_table():
    rooms = {_room(name) for name in _modules() if name.split(".")[0] == "watcher"}
    assert rooms - FOUNDATION - set(MAY_IMPORT) == {"cli", "commands"}  # the top: they may import anything
