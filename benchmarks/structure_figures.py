"""The code's shape, for issue 25's before/after: modules per package, long modules and functions,
import cycles, imports inside functions, the checkout put on sys.path, duplicated blocks and the
README's length, for any commit.

    .venv/bin/python benchmarks/structure_figures.py [REV ...]    (default: HEAD)

Each REV is exported with `git archive` into a scratch folder and read there: the import graph
with grimp (what import-linter reads), the rest with the stdlib `ast`. Duplicated blocks come from
the tool library's `duplicates` command where it is on PATH (outside tests/).
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# What a newcomer reads as the project's code (tests and benchmarks are counted apart).
CODE_ROOTS = ("dtrain", "stacks", "lambda", "app.py")
LONG_MODULE = 300
LONG_FUNCTION = 60

# Run in a child interpreter with the export first on sys.path: module -> its direct imports.
_GRAPH = """
import json, sys, grimp
g = grimp.build_graph("dtrain", cache_dir=None, exclude_type_checking_imports=True)
print(json.dumps({m: sorted(g.find_modules_directly_imported_by(m)) for m in g.modules}))
"""


def export(rev: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], capture_output=True, check=True).stdout
    target = into / rev.replace("/", "_")
    target.mkdir()
    with tempfile.TemporaryFile() as tmp:
        tmp.write(archive)
        tmp.seek(0)
        with tarfile.open(fileobj=tmp) as tar:
            tar.extractall(target, filter="data")
    return target


def code_files(tree: Path) -> list[Path]:
    files: list[Path] = []
    for root in CODE_ROOTS:
        path = tree / root
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return files


def _function_lengths(module: ast.Module) -> list[int]:
    return [
        (node.end_lineno or node.lineno) - node.lineno + 1
        for node in ast.walk(module)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def _imports_inside_functions(module: ast.Module) -> int:
    count = 0
    for node in ast.walk(module):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            count += sum(
                isinstance(inner, ast.Import | ast.ImportFrom)
                for inner in ast.walk(node)
                if inner is not node
            )
    return count


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the groups of nodes that reach each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def _package_of(module: str, packages: set[str]) -> str:
    """The module's package one level below dtrain (dtrain.x for dtrain.x.y), or itself."""
    parts = module.split(".")
    return ".".join(parts[:2]) if ".".join(parts[:2]) in packages else module


def graph_figures(tree: Path) -> dict[str, object]:
    env = {"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"}
    run = [sys.executable, "-c", _GRAPH]
    done = subprocess.run(run, capture_output=True, text=True, env=env, cwd=tree, check=True)
    imports: dict[str, list[str]] = json.loads(done.stdout)
    internal = {m: {i for i in targets if i.startswith("dtrain")} for m, targets in imports.items()}
    packages = {m for m in imports if m.count(".") == 1 and (tree / m.replace(".", "/")).is_dir()}
    package_graph: dict[str, set[str]] = {}
    for module, targets in internal.items():
        source = _package_of(module, packages)
        package_graph.setdefault(source, set()).update(
            _package_of(t, packages) for t in targets if _package_of(t, packages) != source
        )
    module_cycles = _strongly_connected(internal)
    package_cycles = _strongly_connected(package_graph)
    # A back-edge: one of the two directions of an import between packages that import each other.
    mutual = sorted(
        {
            tuple(sorted((a, b)))
            for a, targets in package_graph.items()
            for b in targets
            if a in package_graph.get(b, set())
        }
    )
    return {
        "module cycles (groups)": len(module_cycles),
        "modules in cycles": sum(len(g) for g in module_cycles),
        "package cycles (groups)": len(package_cycles),
        "package pairs importing each other": [f"{a} <-> {b}" for a, b in mutual],
    }


def tree_figures(tree: Path) -> dict[str, object]:
    files = code_files(tree)
    per_package: Counter[str] = Counter()
    long_modules: list[str] = []
    long_functions = 0
    inside = 0
    path_insertions = 0
    for path in files:
        rel = path.relative_to(tree)
        text = path.read_text()
        if rel.parts[0] == "dtrain":
            per_package[".".join(rel.parts[:-1])] += 1
        if text.count("\n") > LONG_MODULE:
            long_modules.append(str(rel))
        module = ast.parse(text)
        long_functions += sum(n > LONG_FUNCTION for n in _function_lengths(module))
        inside += _imports_inside_functions(module)
        path_insertions += text.count("sys.path.insert(")
    readme = tree / "README.md"
    return {
        "code modules": len(files),
        "modules per dtrain package": dict(sorted(per_package.items())),
        f"modules over {LONG_MODULE} lines": len(long_modules),
        f"functions over {LONG_FUNCTION} lines": long_functions,
        "imports inside functions": inside,
        "sys.path insertions in code": path_insertions,
        "README lines": readme.read_text().count("\n") if readme.is_file() else 0,
    }


def duplicate_figures(tree: Path) -> str:
    tool = shutil.which("duplicates")
    if tool is None:
        return "duplicates: not on PATH"
    scratch = tree.parent / (tree.name + "-code")
    scratch.mkdir()
    for root in (*CODE_ROOTS, "training_code"):
        source = tree / root
        if source.is_dir():
            shutil.copytree(source, scratch / root, symlinks=True)
        elif source.is_file():
            shutil.copy2(source, scratch / root)
    done = subprocess.run([tool, "--repo", str(scratch), "--seconds", "120"], capture_output=True, text=True)
    return done.stdout.splitlines()[0] if done.stdout else done.stderr.strip()


def main(revs: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for rev in revs or ["HEAD"]:
            tree = export(rev, Path(tmp))
            figures = {"rev": rev, **tree_figures(tree), **graph_figures(tree)}
            figures["duplicated blocks outside tests"] = duplicate_figures(tree)
            print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
