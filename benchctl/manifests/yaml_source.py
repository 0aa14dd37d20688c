"""Safe YAML loading that keeps every value's location.

Parsing uses libyaml through PyYAML's C composer (fast, and it gives node marks); we then build
plain Python values ourselves so that duplicate keys, unknown tags and alias bombs are reported
instead of silently accepted, and so that any value can be located later by its path.

Untrusted input is expected (manifests arrive in pull requests), hence the limits below. libyaml's
composer recurses in C and crashes the interpreter on very deep nesting, and newer libyaml
builds stop at a depth of their own, so depth is bounded first on the parse events, which stream
without recursion.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
import yaml._yaml as yaml_c

from benchctl.manifests.diagnostics import Diagnostic, Severity

MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_EXPANDED_NODES = 100_000
_LIBYAML_UNBOUNDED = 2**31 - 1

_T = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = _T + "str", _T + "int", _T + "float", _T + "bool", _T + "null"
_TIMESTAMP, _SEQ, _MAP, _MERGE = _T + "timestamp", _T + "seq", _T + "map", _T + "merge"
_CONSTRUCTOR = yaml.constructor.SafeConstructor()

PathSegment = str | int
Location = tuple[int, int]


@dataclass
class YamlDocument:
    """A parsed manifest: its plain data and the node tree that locates every value."""

    path: Path
    text: str
    data: Any
    # Composed again on first use: keeping every file's node tree alive makes the cyclic GC
    # walk millions of objects, and locations are only needed when a diagnostic is made.
    _root: yaml.Node | None = field(default=None, repr=False, compare=False)

    @property
    def root(self) -> yaml.Node:
        if self._root is None:
            root = yaml.compose(self.text, Loader=yaml.CSafeLoader)
            assert root is not None, "the text held one document when it was loaded"
            self._root = root
        return self._root

    def locate(self, loc: tuple[PathSegment, ...], *, key: bool = False) -> Location:
        """1-based (line, col) of the value at ``loc``, or of its key when ``key``.

        Segments that do not exist (pydantic adds union branch names, say) are skipped, so the
        location is the deepest node that does exist.
        """
        node: yaml.Node = self.root
        key_node: yaml.Node | None = None
        for seg in loc:
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == str(seg):
                        node, key_node = v, k
                        break
            elif (
                isinstance(node, yaml.SequenceNode)
                and isinstance(seg, int)
                and 0 <= seg < len(node.value)
            ):
                node, key_node = node.value[seg], None
        target = key_node if key and key_node is not None else node
        return target.start_mark.line + 1, target.start_mark.column + 1

    def diagnostic(
        self,
        loc: tuple[PathSegment, ...],
        code: str,
        message: str,
        hint: str = "",
        *,
        key: bool = False,
        severity: Severity = "error",
    ) -> Diagnostic:
        """A diagnostic at the value at ``loc`` (or its key), located only now it is needed."""
        line, col = self.locate(loc, key=key)
        return Diagnostic(self.path, line, col, code, message, hint, severity)

    def scalars(self) -> Iterator[tuple[tuple[PathSegment, ...], str, str | None]]:
        """Every string or number, as text, with its path and the key it sits under, in
        document order (for secret scanning)."""
        stack: list[tuple[Any, tuple[PathSegment, ...], str | None]] = [(self.data, (), None)]
        while stack:
            value, path, parent_key = stack.pop()
            if isinstance(value, str):
                yield path, value, parent_key
            elif isinstance(value, int | float) and not isinstance(value, bool):
                yield path, str(value), parent_key
            elif isinstance(value, dict):
                stack.extend((v, (*path, k), k) for k, v in reversed(value.items()))
            elif isinstance(value, list):
                stack.extend(
                    (v, (*path, i), parent_key) for i, v in reversed(list(enumerate(value)))
                )


@dataclass
class _Builder:
    path: Path
    problems: list[Diagnostic] = field(default_factory=list)

    def problem(self, node: yaml.Node, code: str, message: str) -> None:
        mark = node.start_mark
        self.problems.append(Diagnostic(self.path, mark.line + 1, mark.column + 1, code, message))

    def build(self, node: yaml.Node, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            self.problem(node, "BC113", f"values are nested more than {MAX_DEPTH} levels deep")
            return None
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                self.problem(node, "BC112", f"tag {node.tag!r} is not allowed")
            return [self.build(item, depth + 1) for item in node.value]
        assert isinstance(node, yaml.MappingNode)
        if node.tag != _MAP:
            self.problem(node, "BC112", f"tag {node.tag!r} is not allowed")
        result: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node, "BC111", "a mapping key must be a plain scalar")
                continue
            if key_node.tag == _MERGE:
                merged.update(self._merge_source(value_node, depth))
                continue
            key = key_node.value
            if key in result:
                self.problem(key_node, "BC106", f"key {key!r} appears more than once")
                continue
            result[key] = self.build(value_node, depth + 1)
        return {**merged, **result} if merged else result

    def _merge_source(self, node: yaml.Node, depth: int) -> dict[str, Any]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[str, Any] = {}
        for source in reversed(sources):  # earlier sources win, as in YAML's merge key spec
            value = self.build(source, depth + 1)
            if not isinstance(value, dict):
                self.problem(source, "BC111", "a merge key (<<) needs a mapping or list of them")
                continue
            merged.update(value)
        return merged

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        tag = node.tag
        if tag in (_STR, _TIMESTAMP):  # dates stay text: manifests are JSON-shaped
            return node.value
        if tag == _INT:
            return _CONSTRUCTOR.construct_yaml_int(node)
        if tag == _FLOAT:
            return _CONSTRUCTOR.construct_yaml_float(node)
        if tag == _BOOL:
            return _CONSTRUCTOR.construct_yaml_bool(node)
        if tag == _NULL:
            return None
        self.problem(node, "BC112", f"tag {tag!r} is not allowed")
        return node.value


def _too_deep(text: str) -> Location | None:
    """Line and column (1-based) where the first value nested deeper than MAX_DEPTH starts.

        Parse events stream from libyaml without recursion, so this is safe on any input, and it
        stops at our limit before libyaml's own (PyYAML 6.0.4 bundles one, at another depth and with
        another message), so the user gets BC113 whatever PyYAML is installed. Depth counts the
        collections around a value, as the builder does: the root is at depth 0. Scalars just past
    the limit are left to the builder, which knows keys from values.
    """
    depth = 0
    with _libyaml_depth_unbounded():
        for event in yaml.parse(text, Loader=yaml.CSafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                mark = event.start_mark
                if depth > MAX_DEPTH and mark is not None:
                    return mark.line + 1, mark.column + 1
                depth += 1
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    return None


@contextmanager
def _libyaml_depth_unbounded() -> Iterator[None]:
    """Lift libyaml's own nesting limit (PyYAML >= 6.0.4) while only events are read.

    Its limit guards PyYAML's recursive composer, which we call only once ``_too_deep`` has
    passed; while reading events it would only pre-empt our limit with another location and
    message. The setting is process-wide: any value another thread sees is safe for this scan.
    """
    get = getattr(yaml_c, "_get_max_nest_level", None)
    set_ = getattr(yaml_c, "_set_max_nest_level", None)
    if get is None or set_ is None:  # PyYAML < 6.0.4: libyaml has no limit
        yield
        return
    before = get()
    set_(_LIBYAML_UNBOUNDED)
    try:
        yield
    finally:
        set_(before)


def _expanded_size(root: yaml.Node) -> int:
    """How many nodes the document has once every alias is expanded (memoized per node)."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node, depth: int) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        if isinstance(node, yaml.ScalarNode) or depth > MAX_DEPTH:  # too deep: BC113 follows
            total = 1
        elif isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(n, depth + 1) for n in node.value)
        else:
            total = 1 + sum(size(k, depth + 1) + size(v, depth + 1) for k, v in node.value)
        sizes[id(node)] = min(total, MAX_EXPANDED_NODES + 1)
        return sizes[id(node)]

    return size(root, 0)


def _decode(path: Path, raw: bytes) -> str | Diagnostic:
    if b"\x00" in raw:
        return Diagnostic(path, 0, 0, "BC102", "file contains NUL bytes; it looks binary")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        # Columns count characters, as libyaml's marks do, not bytes.
        col = len(raw[line_start : exc.start].decode("utf-8", errors="replace")) + 1
        return Diagnostic(
            path, line, col, "BC103", f"byte 0x{raw[exc.start]:02x} is not valid UTF-8"
        )
    return text.removeprefix("\ufeff")


def _syntax_problem(path: Path, text: str, exc: yaml.MarkedYAMLError) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
    problem = exc.problem or "invalid YAML"
    at_tab = mark is not None and text[mark.index : mark.index + 1] == "\t"
    if "tab" in problem or at_tab:
        return Diagnostic(path, line, col, "BC105", "a tab character is used for indentation")
    if exc.context and exc.context_mark:
        context_at = f"line {exc.context_mark.line + 1}, col {exc.context_mark.column + 1}"
        problem = f"{problem} ({exc.context} at {context_at})"
    elif exc.context:
        problem = f"{problem} ({exc.context})"
    return Diagnostic(path, line, col, "BC104", problem)


def load_yaml(path: Path) -> YamlDocument | list[Diagnostic]:
    """Load one manifest file: its document, or the problems that stop it from loading.

    Problems inside an otherwise readable document (duplicate keys, tags) are returned instead
    of the document, all of them at once.
    """
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return [
                Diagnostic(
                    path, 0, 0, "BC101", f"file is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}"
                )
            ]
        with path.open("rb") as fh:
            # Read what stat promises (+1 to notice growth): read(MAX_FILE_BYTES + 1) would
            # allocate a 1 MiB buffer for every file. Non-regular files (size 0) and files that
            # grew read on up to the limit, so the result is the same as one bounded read.
            raw = fh.read(size + 1)
            if len(raw) > size:
                raw += fh.read(MAX_FILE_BYTES + 1 - len(raw))
    except OSError as exc:
        return [Diagnostic(path, 0, 0, "BC100", f"cannot read file: {os.strerror(exc.errno or 0)}")]
    text = _decode(path, raw)
    if isinstance(text, Diagnostic):
        return [text]
    try:
        deep = _too_deep(text)
        if deep is not None:
            return [
                Diagnostic(
                    path,
                    *deep,
                    "BC113",
                    f"values are nested more than {MAX_DEPTH} levels deep",
                )
            ]
        documents = list(yaml.compose_all(text, Loader=yaml.CSafeLoader))
    except yaml.MarkedYAMLError as exc:
        return [_syntax_problem(path, text, exc)]
    except yaml.YAMLError as exc:
        return [Diagnostic(path, 0, 0, "BC104", str(exc))]
    if not documents:
        return [Diagnostic(path, 0, 0, "BC109", "the file holds no YAML document")]
    if len(documents) > 1:
        mark = documents[1].start_mark
        return [
            Diagnostic(
                path,
                mark.line + 1,
                mark.column + 1,
                "BC108",
                f"the file holds {len(documents)} YAML documents; a manifest holds one",
            )
        ]
    root = documents[0]
    if "&" in text and _expanded_size(root) > MAX_EXPANDED_NODES:
        return [
            Diagnostic(
                path,
                root.start_mark.line + 1,
                root.start_mark.column + 1,
                "BC107",
                f"aliases expand to more than {MAX_EXPANDED_NODES:,} values",
            )
        ]
    builder = _Builder(path)
    data = builder.build(root)
    if builder.problems:
        return builder.problems
    if data is None:
        return [Diagnostic(path, 0, 0, "BC109", "the document is empty (null)")]
    if not isinstance(data, dict):
        line, col = root.start_mark.line + 1, root.start_mark.column + 1
        what = "a list" if isinstance(data, list) else f"a single value ({data!r:.40})"
        return [Diagnostic(path, line, col, "BC110", f"the document is {what}, not a mapping")]
    return YamlDocument(path, text, data)
