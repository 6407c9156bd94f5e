"""The code's shape rules (issue 25), each a test that names what breaks it:

- imports inside functions only where a reason in pyproject.toml ([tool.dtrain.lazy-imports])
  allows them: the imported module is costly or optional (itself, or through what it imports at
  its top), the importing module defers on purpose, or the line says `# lazy: <reason>`;
- no function over 60 lines unless its docstring says why ("Long because ...").

The layers themselves are import-linter's contracts (pyproject.toml, `make lint`). Pure ast: it
runs in the Lambda runtime's interpreter too."""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# stacks/ is the package dtrain.constructs (dtrain/constructs links to it; rglob does not follow links).
CODE = ("dtrain", "stacks", "lambda")
MARK = "# lazy:"


@cache
def _rules() -> Mapping[str, Mapping[str, str]]:
    table: Mapping[str, Mapping[str, str]] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"][
        "dtrain"
    ]["lazy-imports"]
    return table


def _matches(name: str, keys: Mapping[str, str]) -> bool:
    return any(name == key or name.startswith(key + ".") for key in keys)


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[0] == "stacks":
        parts = ("dtrain", "constructs", *parts[1:])
    return ".".join(parts).removesuffix(".__init__")


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for root in CODE for p in (ROOT / root).rglob("*.py")}


def _imported_names(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    # `from dtrain.x import y` may name the module dtrain.x.y.
    return [base, *(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in _modules())]


def _top_level_imports(module: str) -> list[str]:
    tree = ast.parse(_modules()[module].read_text())
    found: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found += _imported_names(node)
        elif isinstance(node, ast.If) and not _is_type_checking(node):
            found += [
                n
                for child in node.body
                if isinstance(child, ast.Import | ast.ImportFrom)
                for n in _imported_names(child)
            ]
    return found


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


@cache
def _costly_modules() -> dict[str, str]:
    """Each dtrain module that loads a costly or optional module at its top -> that module
    (directly, or through the dtrain modules it imports at its top): a fixpoint over the graph."""
    imported = _rules()["imported"]
    tops = {module: _top_level_imports(module) for module in _modules()}
    found = {
        m: next(n for n in names if _matches(n, imported))
        for m, names in tops.items()
        if any(_matches(n, imported) for n in names)
    }
    changed = True
    while changed:
        changed = False
        for module, names in tops.items():
            if module not in found:
                hit = next((found[n] for n in names if n in found), None)
                if hit is not None:
                    found[module], changed = hit, True
    return found


def costly(module: str) -> str | None:
    """The costly or optional module that importing `module` loads at import time, if any."""
    if _matches(module, _rules()["imported"]):
        return module
    return _costly_modules().get(module)


def lazy_imports() -> Iterator[tuple[str, int, str, str]]:
    """(file, line, importing module, imported module) of every import inside a function."""
    for module, path in sorted(_modules().items()):
        tree = ast.parse(path.read_text())
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if node is not func and isinstance(node, ast.Import | ast.ImportFrom):
                    names = _imported_names(node)
                    if isinstance(node, ast.ImportFrom):
                        # `from pkg import submodule` imports the submodule: that is the one judged.
                        names = names[1:] or names[:1]
                    for name in names:
                        yield _shown(path), node.lineno, module, name


def test_every_import_inside_a_function_has_a_reason() -> None:
    rules = _rules()
    unexplained = []
    for file, line, importer, name in lazy_imports():
        source_line = (ROOT / file).read_text().splitlines()[line - 1]
        if MARK in source_line or _matches(importer, rules["importer"]) or costly(name) is not None:
            continue
        unexplained.append(f"{file}:{line}: {name}")
    assert not unexplained, (
        "imports inside functions without a reason (import at the top, or give the reason in "
        f"pyproject.toml [tool.dtrain.lazy-imports] or a `{MARK} ...` comment):\n" + "\n".join(unexplained)
    )


def test_the_reasons_hold() -> None:
    # A reason names a module that exists (or an installed distribution's top-level package).
    rules = _rules()
    for key in rules["importer"]:
        assert any(_matches(m, {key: ""}) for m in _modules()), (
            f"[tool.dtrain.lazy-imports.importer] {key}: no such module"
        )
    for key in rules["imported"]:
        if key.startswith("dtrain"):
            assert key in _modules(), f"[tool.dtrain.lazy-imports.imported] {key}: no such module"


LONG_FUNCTION = 60
LONG_REASON = "Long because"


def test_long_functions_say_why() -> None:
    # A function over ~60 lines is split into parts with one job each, or its docstring says why it
    # reads best whole ("Long because ...": one flat table, one list of patches).
    unexplained = []
    for path in [*_modules().values(), ROOT / "app.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > LONG_FUNCTION and LONG_REASON not in (ast.get_docstring(node) or ""):
                    unexplained.append(f"{_shown(path)}:{node.lineno} {node.name}: {length} lines")
    assert not unexplained, (
        f"functions over {LONG_FUNCTION} lines without '{LONG_REASON} ...':\n" + "\n".join(unexplained)
    )
