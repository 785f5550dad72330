"""Reading spec files: bounded reads, a YAML loader that records line and column of every mapping
and key, refuses aliases, merge keys and tags, and bounds nesting. Every failure is one line."""

from __future__ import annotations

import os
import re
import stat
from typing import Any

import yaml

from costcalc.errors import SpecError

#: Documented limits (README "Limits"). They keep every input fast and memory-bounded: the worst
#: accepted spec (MAX_LAYERS layers) evaluates in seconds, and nothing larger is ever built.
MAX_FILE_BYTES = 2_000_000
MAX_DEPTH = 32  # nesting of groups (a group in a group ...)
MAX_YAML_DEPTH = 2 * MAX_DEPTH  # nesting of YAML collections (each group level is a list and a mapping)


class LDict(dict):  # type: ignore[type-arg]
    """A YAML mapping that remembers the 1-based line and column of itself and of each key."""

    line: int = 0
    col: int = 0
    key_lines: dict[str, int]
    key_cols: dict[str, int]


class LList(list):  # type: ignore[type-arg]
    """A YAML sequence that remembers its 1-based line and column."""

    line: int = 0
    col: int = 0


class _Loader(yaml.SafeLoader):
    """SafeLoader that records lines, refuses aliases and bounds nesting."""

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise SpecError(f"{self.name}:{event.start_mark.line + 1}:{event.start_mark.column + 1}: "
                            "YAML aliases (*name) are not supported in specs")
        # Checked before PyYAML's own recursion (compose_node is recursive), so deep input is a
        # one-line error, never a RecursionError.
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                mark = self.peek_event().start_mark
                raise SpecError(f"{self.name}:{mark.line + 1}:{mark.column + 1}: YAML nested deeper than "
                                f"{MAX_YAML_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LDict:
    d = LDict()
    d.line, d.col = node.start_mark.line + 1, node.start_mark.column + 1
    d.key_lines = {}
    d.key_cols = {}
    for key_node, value_node in node.value:
        mark = key_node.start_mark
        at = f"{loader.name}:{mark.line + 1}:{mark.column + 1}"
        if key_node.tag == "tag:yaml.org,2002:merge":
            raise SpecError(f"{at}: YAML merge keys (<<) are not supported in specs")
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise SpecError(f"{at}: mapping keys must be names, got {repr(key)[:60]}")
        if key in d:
            raise SpecError(f"{at}: duplicate key {repr(key)[:60]}")
        d[key] = loader.construct_object(value_node, deep=True)
        d.key_lines[key] = mark.line + 1
        d.key_cols[key] = mark.column + 1
    return d


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LList:
    lst = LList(loader.construct_object(n, deep=True) for n in node.value)
    lst.line, lst.col = node.start_mark.line + 1, node.start_mark.column + 1
    return lst


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _libyaml_bounds_nesting() -> bool:
    """libyaml 0.2.5 and later stop at 1000 nested collections (a scanner error), so composing in C
    cannot exhaust the C stack on deep input; older versions are not used."""
    try:
        return tuple(yaml._yaml.get_version()) >= (0, 2, 5)
    except (AttributeError, ImportError, TypeError):
        return False


if getattr(yaml, "__with_libyaml__", False) and _libyaml_bounds_nesting():

    class _CLoader(yaml.CSafeLoader):  # type: ignore[misc,name-defined]
        """libyaml scans, parses and composes (about ten times faster than PyYAML's Python code);
        construction is the same Python code as :class:`_Loader`'s, from nodes with the same marks."""

    _CLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    _CLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
    _FAST: type | None = _CLoader
else:  # pragma: no cover - PyYAML without libyaml
    _FAST = None

#: what specs never need and where libyaml and PyYAML's Python scanner disagree on what is valid:
#: indicators of complex keys ``? k``, tags, directives, anchors and reserved ones (outside comments),
#: and anywhere tabs, carriage returns, Unicode line separators, a byte-order mark. Such documents are
#: left to the Python loader, so that libyaml never accepts a document PyYAML refuses
#: (``tests/test_perf_paths.py`` edits specs at random to check).
_UNUSUAL_INDICATORS = re.compile("[?!%&@`]")
_UNUSUAL_ANYWHERE = re.compile("[\t\r\x85\u2028\u2029\ufeff]")


def _without_comments(text: str) -> str:
    """``text`` without its ``#`` comments, conservatively: a line with a quote before its ``#``
    is kept whole (the ``#`` may be inside a quoted string)."""
    out = []
    for line in text.split("\n"):
        i = line.find("#")
        while i > 0 and line[i - 1] != " ":
            i = line.find("#", i + 1)
        if i >= 0 and "'" not in line[:i] and '"' not in line[:i]:
            line = line[:i]
        out.append(line)
    return "\n".join(out)


#: what the fast path returns when the document needs the Python loader (to accept or refuse it)
_FALLBACK = object()


def _parse_fast(text: str, name: str) -> Any:
    """The document composed by libyaml, or :data:`_FALLBACK` for anything but a plain, valid
    document (an error, an alias, deep nesting, a character PyYAML refuses): the Python loader
    then reads it again and gives the one-line message it always gave."""
    if _FAST is None or _UNUSUAL_ANYWHERE.search(text) or yaml.reader.Reader.NON_PRINTABLE.search(text) \
            or _UNUSUAL_INDICATORS.search(_without_comments(text)):
        return _FALLBACK
    loader = _FAST(text)
    loader.name = name
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        seen: set[int] = set()
        stack: list[tuple[Any, int]] = [(node, 1)]
        while stack:  # an alias is a node met twice; the depth is PyYAML's compose_node depth
            n, depth = stack.pop()
            if id(n) in seen or depth > MAX_YAML_DEPTH:
                return _FALLBACK
            seen.add(id(n))
            if isinstance(n, yaml.SequenceNode):
                stack.extend((c, depth + 1) for c in n.value)
            elif isinstance(n, yaml.MappingNode):
                stack.extend((c, depth + 1) for kv in n.value for c in kv)
        return loader.construct_document(node)
    except Exception:  # noqa: BLE001 - every failure is reported by the Python loader, as before
        return _FALLBACK
    finally:
        loader.dispose()


def read_yaml(path: str) -> Any:
    """Read and parse a spec file; every failure is a one-line :class:`SpecError`."""
    name = shown_path(path)
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise SpecError(f"{name}: is a directory, not a spec file")
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block forever, /dev/zero never ends
            raise SpecError(f"{name}: not a regular file")
        if st.st_size > MAX_FILE_BYTES:
            raise SpecError(f"{name}: file too large ({st.st_size:,} bytes, limit {MAX_FILE_BYTES:,})")
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)  # bounded even if the file grows while we read
        if len(data) > MAX_FILE_BYTES:
            raise SpecError(f"{name}: file too large (more than {MAX_FILE_BYTES:,} bytes)")
    except FileNotFoundError:
        raise SpecError(f"{name}: no such file") from None
    except PermissionError:
        raise SpecError(f"{name}: permission denied") from None
    except OSError as e:
        raise SpecError(f"{name}: cannot read: {e.strerror or e}") from None
    except ValueError as e:  # e.g. a NUL character in the path
        raise SpecError(f"{name}: cannot read: {e}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise SpecError(f"{name}:{line}:{col}: not valid UTF-8 (byte 0x{data[e.start]:02x} at offset "
                        f"{e.start})") from None
    return parse_yaml(text, name)


def shown_path(path: str) -> str:
    """``path`` as messages show it: on one line (unprintable characters become ``?``)."""
    return "".join(ch if ch.isprintable() else "?" for ch in str(path))


def parse_yaml(text: str, name: str = "<spec>") -> Any:
    """The document in ``text`` (``name``: the file, in messages), by libyaml when it can, else (and
    for every error) by PyYAML's Python loader; every failure is a one-line :class:`SpecError`."""
    fast = _parse_fast(text, name)
    if fast is not _FALLBACK:
        return fast
    return _parse_python(text, name)


def _parse_python(text: str, name: str) -> Any:
    try:
        loader = _Loader(text)  # the reader checks for unprintable characters right here
    except yaml.reader.ReaderError as e:
        raise SpecError(_reader_error(e, text, name)) from None
    loader.name = name
    try:
        return loader.get_single_data()
    except yaml.reader.ReaderError as e:
        raise SpecError(_reader_error(e, text, name)) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        problem = " ".join(str(e.problem or e.context or "malformed YAML").split())
        if problem.startswith("could not determine a constructor for the tag"):
            problem = f"unsupported YAML tag {problem.rsplit(' ', 1)[-1]}"
        elif problem.startswith("but ") and e.context:
            problem = f"{' '.join(str(e.context).split())} {problem}"
        if len(problem) > 200:
            problem = problem[:197] + "..."
        if "\t" in text and ("tab" in problem or "'\\t'" in problem):
            problem += " (YAML does not allow tabs for indentation)"
        raise SpecError(f"{where}: malformed YAML: {problem}") from None
    except yaml.YAMLError as e:
        raise SpecError(f"{name}: malformed YAML: {' '.join(str(e).split())}") from None
    except RecursionError:  # defence in depth: compose_node's guard fires first
        raise SpecError(f"{name}: YAML nested too deeply") from None
    finally:
        loader.dispose()


def _reader_error(e: yaml.reader.ReaderError, text: str, name: str) -> str:
    """A control character (or a lone surrogate): where it is and which one."""
    pos = e.position if isinstance(e.position, int) else 0
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    char = e.character if isinstance(e.character, int) else ord(str(e.character)[:1] or "\0")
    return f"{name}:{line}:{col}: malformed YAML: control character U+{char:04X} is not allowed"


