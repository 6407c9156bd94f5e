"""Nothing is found through the checkout: no code the wheel carries imports the checkout's top-level
`app` or `stacks` (an installed dtrain has neither), and none inserts into sys.path to reach them.

stacks/ is the package dtrain.constructs (dtrain/constructs links to it): imported as `stacks.x`
too, a module would load twice, as two classes of every construct.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CARRIED = ("dtrain", "stacks", "lambda")
CHECKOUT_ONLY = ("app", "stacks")


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _carried_sources() -> list[Path]:
    # Path.rglob does not descend into dtrain/constructs and dtrain/bundled (links): stacks/,
    # lambda/ are walked as themselves.
    return [p for root in CARRIED for p in sorted((ROOT / root).rglob("*.py"))]


def test_no_carried_module_imports_the_checkouts_app_or_stacks() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in _carried_sources()
        for line, name in _imports(path)
        if name.split(".")[0] in CHECKOUT_ONLY
    ]
    assert not offenders, "\n".join(offenders)


def test_no_carried_module_reaches_the_checkout_through_sys_path() -> None:
    offenders = [
        str(path.relative_to(ROOT)) for path in _carried_sources() if "sys.path.insert" in path.read_text()
    ]
    assert not offenders, offenders
