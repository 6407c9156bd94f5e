"""Reading a spec file (JSON or YAML) into plain data, safe against hostile files.

`dtrain.jobspec.spec.load_spec` calls `read_document`; everything here raises `SpecError` naming the
file and the cause in one line, never a traceback:

- at most MAX_SPEC_BYTES, UTF-8 only (a byte that is not says where it is);
- JSON and YAML objects with a key given twice are refused (the last one would silently win:
  a YAML spec switched `framework` that way);
- YAML aliases are expanded at most MAX_ALIAS_NODES nodes in all (a "billion laughs" alias
  bomb is refused while composing, before it is built), and only the safe loader's types;
- nesting deeper than MAX_DEPTH is refused, and so is anything that exhausts the parser's
  recursion (10,000 nested brackets).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dtrain.jobspec.errors import SpecError

MAX_SPEC_BYTES = 1024 * 1024
MAX_ALIAS_NODES = 10_000
MAX_DEPTH = 64


class _Refused(Exception):
    """A reason to refuse the document, turned into a SpecError by read_document."""


def read_document(path: Path) -> object:
    """The parsed document of a spec file; SpecError for anything that is not a sane one."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(str(path), str(path), f"cannot read the spec file: {exc.strerror or exc}") from None
    try:
        if len(data) > MAX_SPEC_BYTES:
            raise _Refused(f"larger than {MAX_SPEC_BYTES} bytes; a job spec is a small file")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _Refused(f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start}") from None
        is_yaml = path.suffix.lower() in (".yaml", ".yml")
        document = _parse_yaml(text) if is_yaml else _parse_json(text)
        _check_depth(document)
    except _Refused as exc:
        raise SpecError(str(path), path.name, str(exc)) from None
    except RecursionError:
        raise SpecError(str(path), path.name, f"nested deeper than {MAX_DEPTH} levels") from None
    return document


def _parse_json(text: str) -> object:
    try:
        return json.loads(text, object_pairs_hook=_unique_object)
    except json.JSONDecodeError as exc:
        raise _Refused(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def _unique_object(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"not valid JSON: key {_short(key)} appears twice in one object")
        out[key] = value
    return out


def _short(key: object) -> str:
    text = repr(key) if isinstance(key, str | int | float | bool) or key is None else type(key).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _parse_yaml(text: str) -> object:
    import yaml  # only here: the Lambdas read JSON and never pay for PyYAML

    try:
        return yaml.load(text, Loader=_spec_loader())  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        raise _Refused(f"not valid YAML: {what}{where}") from None
    except yaml.YAMLError as exc:
        raise _Refused(
            f"not valid YAML: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None


_LOADER: Any = None


def _spec_loader() -> Any:
    """yaml.SafeLoader plus an alias budget and duplicate-key refusal (built once, lazily).

    Long because it holds the loader class itself, which subclasses yaml.SafeLoader: PyYAML is
    imported only here, when a .yaml spec is read (the Lambdas are given JSON and never load it)."""
    global _LOADER
    if _LOADER is not None:
        return _LOADER
    import yaml
    from yaml.constructor import ConstructorError
    from yaml.nodes import MappingNode, Node, SequenceNode

    merge_tag = "tag:yaml.org,2002:merge"

    class SpecLoader(yaml.SafeLoader):
        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self.expanded = 0
            self.sizes: dict[int, int] = {}

        def node_size(self, node: Node) -> int:
            """Nodes an alias to `node` adds once expanded (memoized: anchors nest)."""
            known = self.sizes.get(id(node))
            if known is not None:
                return known
            size = 1
            if isinstance(node, SequenceNode):
                size += sum(self.node_size(child) for child in node.value)
            elif isinstance(node, MappingNode):
                size += sum(self.node_size(k) + self.node_size(v) for k, v in node.value)
            self.sizes[id(node)] = size
            return size

        def compose_node(self, parent: Node | None, index: int) -> Node | None:
            if self.check_event(yaml.AliasEvent):  # type: ignore[no-untyped-call]
                anchored = self.anchors.get(self.peek_event().anchor)  # type: ignore[no-untyped-call]
                if anchored is not None:
                    self.expanded += self.node_size(anchored)
                    if self.expanded > MAX_ALIAS_NODES:
                        raise _Refused(
                            f"not valid YAML: aliases expand to more than {MAX_ALIAS_NODES} values "
                            "(an alias bomb?)"
                        )
            return super().compose_node(parent, index)

        def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
            seen: set[object] = set()
            for key_node, _ in node.value:
                if key_node.tag == merge_tag:
                    continue
                key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:
                    raise ConstructorError(
                        None, None, "a mapping key must be a scalar", key_node.start_mark
                    ) from None
                if duplicate:
                    raise ConstructorError(
                        None, None, f"key {_short(key)} appears twice in one mapping", key_node.start_mark
                    )
            return super().construct_mapping(node, deep=deep)

    _LOADER = SpecLoader
    return _LOADER


def _check_depth(document: object) -> None:
    """Iterative, so that checking a deep document cannot itself recurse too deep."""
    stack: list[tuple[object, int]] = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                raise _Refused(f"nested deeper than {MAX_DEPTH} levels")
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
