"""Safe YAML loading that keeps every value's location.

Parsing uses libyaml through PyYAML's C composer (fast, and it gives node marks); we then build
plain Python values ourselves so that duplicate keys, unknown tags and alias bombs are reported
instead of silently accepted, and so that any value can be located later by its path.

Untrusted input is expected (manifests arrive in pull requests), hence the limits below. Only
regular files are read, and with the repository's root given, only files inside it: a symlink
leading out of the repository, a FIFO, a device or a socket is refused (BC114) from its metadata,
before it is opened. libyaml's
composer recurses in C and crashes the interpreter on very deep nesting, and newer libyaml
builds stop at a depth of their own, so depth is bounded first on the parse events, which stream
without recursion.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
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
# What opens a block level: a sequence entry, a mapping value, an explicit key.
_INDICATORS = ("- ", "-\n", ": ", ":\n", "? ", "?\n")

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


def _depth_bound(text: str) -> int:
    """An upper bound of how deep ``text`` nests, from a few string counts.

    Each block level takes one more column of indentation or one more indicator on its line,
    and each flow level one more bracket. Real manifests stay far below MAX_DEPTH, which spares
    them the event scan of ``_too_deep``, a second parse.
    """
    flow = text.count("[") + text.count("{")
    # Every level needs an indicator of its own: few indicators in all settle it at C speed.
    indicators = sum(text.count(s) for s in _INDICATORS)
    if flow + indicators <= MAX_DEPTH:
        return flow + indicators
    block = 0
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        indicators = stripped.count("- ") + stripped.count(": ") + stripped.count("? ")
        block = max(block, len(line) - len(stripped) + indicators + 1)
    return flow + block


def _too_deep(text: str) -> Location | None:
    """Line and column (1-based) where the first value nested deeper than MAX_DEPTH starts.

    Parse events stream from libyaml without recursion, so this is safe on any input, and it
    stops at our limit before libyaml's own (PyYAML 6.0.4 bundles one, at another depth and
    with another message), so the user gets BC113 whatever PyYAML is installed. Depth counts
    the collections around a value, as the builder does: the root is at depth 0. Scalars just
    past the limit are left to the builder, which knows keys from values.
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


_SPECIAL_FILES = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}
# Opening never blocks (a FIFO swapped in after the checks); reads of regular files are the same.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def outside_repository(path: Path, root: Path) -> Path | None:
    """Where ``path`` really leads when a symlink takes it out of the repository at ``root``.

    None when it stays inside, and for a path outside the repository that no symlink of its
    own leads anywhere (a file the user named on the command line). Reads metadata only.
    Raises OSError or RuntimeError on a symlink loop.
    """
    if ".." not in path.parts and not _symlink_below(path, root):
        return None  # the common case, in two lstat calls: no symlink between root and file
    real = path.resolve()
    root_real = root.resolve()
    if real.is_relative_to(root_real):
        return None
    # Where the path says it is: `..` collapsed, no symlink followed.
    lexical = Path(os.path.normpath(path.absolute()))
    repository = (Path(os.path.normpath(root.absolute())), root_real)
    in_repository = any(lexical.is_relative_to(folder) for folder in repository)
    return real if in_repository or path.is_symlink() else None


def _symlink_below(path: Path, root: Path) -> bool:
    """Whether a component of ``path`` below ``root`` is a symlink (True too when ``path`` is
    not under ``root`` or a component cannot be read: then only resolving can tell). Plain
    strings and lstat: this runs once per manifest."""
    # os.path, not pathlib: pathlib's objects cost more than the lstat calls themselves here.
    lexical = os.path.normpath(os.path.abspath(path))  # noqa: PTH100
    top = os.path.normpath(os.path.abspath(root))  # noqa: PTH100
    if not lexical.startswith(top + os.sep):
        return True
    current = top
    try:
        for part in lexical[len(top) + 1 :].split(os.sep):  # noqa: PTH206
            current = f"{current}{os.sep}{part}"
            if stat.S_ISLNK(os.lstat(current).st_mode):
                return True
    except OSError:
        return True
    return False


def refusal(path: Path, root: Path | None = None) -> Diagnostic | None:
    """BC114 when ``path`` is not a regular file (inside the repository at ``root``, if given),
    decided from metadata alone: nothing is opened, and nothing outside the repository."""
    if root is not None:
        try:
            target = outside_repository(path, root)
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop, on Python < 3.13
            return Diagnostic(path, 0, 0, "BC114", "a symlink loop; it was not read")
        if target is not None:
            how = "a symlink" if path.is_symlink() else "a path through a symlink"
            return Diagnostic(
                path, 0, 0, "BC114", f"{how} to {target}, outside the repository; it was not read"
            )
    try:
        mode = path.stat().st_mode
    except OSError:
        return None  # BC100 when it is opened
    return _special(path, mode)


def _special(path: Path, mode: int) -> Diagnostic | None:
    kind = _SPECIAL_FILES.get(stat.S_IFMT(mode))
    if kind is None:
        return None
    return Diagnostic(path, 0, 0, "BC114", f"{kind}, not a regular file; it was not read")


def _read(path: Path) -> bytes | Diagnostic:
    """The bytes of the regular file at ``path``, or why not (BC101, BC114; OSError: BC100).

    What the file is comes from the open descriptor, so a file swapped after ``refusal``
    looked at it is still never read unless it is a regular file.
    """
    fd = os.open(path, _OPEN_FLAGS)
    with ExitStack() as cleanup:
        cleanup.callback(os.close, fd)
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        special = _special(path, info.st_mode)
        if special is not None:
            return special
        if info.st_size > MAX_FILE_BYTES:
            return Diagnostic(
                path,
                0,
                0,
                "BC101",
                f"file is {info.st_size:,} bytes; the limit is {MAX_FILE_BYTES:,}",
            )
        cleanup.pop_all()  # the file object below closes the descriptor
    with os.fdopen(fd, "rb") as fh:
        # Read what fstat promises (+1 to notice growth): read(MAX_FILE_BYTES + 1) would
        # allocate a 1 MiB buffer for every file. A file that grew reads on up to the limit, so
        # the result is the same as one bounded read.
        raw = fh.read(info.st_size + 1)
        if len(raw) > info.st_size:
            raw += fh.read(MAX_FILE_BYTES + 1 - len(raw))
    return raw


def load_yaml(path: Path, *, root: Path | None = None) -> YamlDocument | list[Diagnostic]:
    """Load one manifest file: its document, or the problems that stop it from loading.

    Problems inside an otherwise readable document (duplicate keys, tags) are returned instead
    of the document, all of them at once. With ``root``, a symlink that leads out of that
    repository is refused without being followed (BC114); FIFOs, devices and sockets always are.
    """
    refused = refusal(path, root)
    if refused is not None:
        return [refused]
    try:
        raw = _read(path)
    except OSError as exc:
        return [Diagnostic(path, 0, 0, "BC100", f"cannot read file: {os.strerror(exc.errno or 0)}")]
    if isinstance(raw, Diagnostic):
        return [raw]
    text = _decode(path, raw)
    if isinstance(text, Diagnostic):
        return [text]
    try:
        deep = _too_deep(text) if _depth_bound(text) > MAX_DEPTH else None
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
    top = documents[0]
    if "&" in text and _expanded_size(top) > MAX_EXPANDED_NODES:
        return [
            Diagnostic(
                path,
                top.start_mark.line + 1,
                top.start_mark.column + 1,
                "BC107",
                f"aliases expand to more than {MAX_EXPANDED_NODES:,} values",
            )
        ]
    builder = _Builder(path)
    data = builder.build(top)
    if builder.problems:
        return builder.problems
    if data is None:
        return [Diagnostic(path, 0, 0, "BC109", "the document is empty (null)")]
    if not isinstance(data, dict):
        line, col = top.start_mark.line + 1, top.start_mark.column + 1
        what = "a list" if isinstance(data, list) else f"a single value ({data!r:.40})"
        return [Diagnostic(path, line, col, "BC110", f"the document is {what}, not a mapping")]
    return YamlDocument(path, text, data)
