"""Reading YAML input: a safe loader and field readers whose errors name file, field and rule.

Every input file (scenario, network, sweep, schedule) goes through these helpers, so a user
mistake is always reported the same way: ``file: field.path: what is wrong (what is allowed)``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import MAX_SHOWN, InputError, clip, did_you_mean, join, quote, show_number

_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


#: Deepest nesting of lists and mappings an input file may have (the formats need under ten
#: levels; far deeper documents ran Python out of stack).
MAX_DEPTH = 32

#: Most characters of values a YAML document may expand to, aliases followed. A plain file
#: stays below it unless it is megabytes long; a "billion laughs" alias bomb, a few hundred
#: bytes that expand to gigabytes, is refused before anything copies or serialises it.
MAX_EXPANDED = 10_000_000


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error, and a
    document nested deeper than MAX_DEPTH or expanding beyond MAX_EXPANDED through its
    aliases (or referring to itself) is refused while it is composed."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliased = False
        self._measured: dict[int, tuple[int, int]] = {}   # id(node) -> (expanded size, depth)

    def compose_node(self, parent: Any, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            if id(node) not in self._measured:
                raise yaml.composer.ComposerError(
                    None, None, f"the alias *{clip(event.anchor)} refers to a list or mapping "
                                f"that contains it", event.start_mark)
            self._aliased = True
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"lists and mappings are nested deeper than {MAX_DEPTH} levels",
                event.start_mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._measure(node)
        return node

    def _measure(self, node: yaml.Node) -> None:
        """Record the size of ``node`` with its aliases expanded (its children are measured
        already), and refuse it beyond the limits."""
        if isinstance(node, yaml.ScalarNode):
            size, depth = 1 + len(node.value), 0
        else:
            children = node.value if isinstance(node, yaml.SequenceNode) else \
                [n for pair in node.value for n in pair]
            stats = [self._measured[id(c)] for c in children]
            size = 2 + sum(s for s, _ in stats)
            depth = 1 + max((d for _, d in stats), default=0)
        if size > MAX_EXPANDED:
            how = "through its aliases " if self._aliased else ""
            raise yaml.composer.ComposerError(
                None, None, f"the document expands {how}to more than {MAX_EXPANDED:,} "
                            f"characters, the most an input may hold", node.start_mark)
        if depth > MAX_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"lists and mappings are nested deeper than {MAX_DEPTH} levels "
                            f"through aliases", node.start_mark)
        self._measured[id(node)] = (size, depth)


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if isinstance(key, Iterable) and not isinstance(key, str):
            raise yaml.constructor.ConstructorError(
                None, None, f"a mapping key must be a plain value, got {quote(key)}",
                key_node.start_mark)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {quote(key)} is given twice (first on line {seen[key] + 1})",
                key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


#: Longest name of a network, layer or external input.
MAX_NAME = 128

#: Largest input file read (a scenario, network, sweep or result file is kilobytes; a
#: gigabyte file given by mistake would be read whole before its first line is checked).
MAX_FILE_BYTES = 64 * 2**20


def read_input(path: str | Path, what: str = "file") -> str:
    """The text of an input file; a missing, unreadable or oversized file is an InputError."""
    path = Path(path)
    if not is_file(path):
        raise InputError(clip(path, 4 * MAX_SHOWN), None, f"{what} not found")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(str(path), None, f"{what} of {size:,} bytes is too large (at "
                                              f"most {MAX_FILE_BYTES:,})")
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(str(path), None, f"cannot read {what}: "
                                          f"{exc.strerror or clip(exc)}") from None
    except UnicodeDecodeError as exc:
        raise InputError(str(path), None, f"cannot read {what}: not UTF-8 text (byte "
                                          f"{exc.start:,}: {exc.reason})") from None


def is_file(path: Path) -> bool:
    """Whether ``path`` is a file; False for a name the system cannot look up (too long)."""
    try:
        return path.is_file()
    except OSError:
        return False


def load_yaml(path: str | Path, what: str = "file") -> Any:
    """Parse a YAML file safely (no code execution); a missing or bad file is an InputError."""
    return parse_yaml(read_input(path, what), str(path))


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML text safely; a syntax error names the source and the line."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        problem = " ".join(str(problem).split())      # one line, whatever PyYAML printed
        raise InputError(source, None, f"invalid YAML: {where}{clip(problem, 4 * MAX_SHOWN)}"
                         ) from None
    except ValueError as exc:
        # A value PyYAML cannot build: an integer of over 4300 digits, a date like 2024-13-01.
        raise InputError(source, None, f"invalid YAML: {_unreadable(exc)}") from None


def _unreadable(exc: ValueError) -> str:
    if "integer string conversion" in str(exc):
        return "an integer has more than 4300 digits"
    return f"a value cannot be read ({clip(exc, 2 * MAX_SHOWN)})"


def load_json(path: str | Path, what: str = "file") -> Any:
    """Parse a JSON file; a missing, unreadable, invalid or too deeply nested file is an
    InputError."""
    return parse_json(read_input(path, what), str(path))


def parse_json(text: str, source: str) -> Any:
    """Parse JSON text; a syntax error names the source and the line, and lists or objects
    nested deeper than MAX_DEPTH are refused (the formats need far fewer levels)."""
    deep = InputError(source, None, f"invalid JSON: lists and objects are nested deeper than "
                                    f"{MAX_DEPTH} levels")
    try:
        doc = json.loads(text)
    except RecursionError:
        raise deep from None
    except json.JSONDecodeError as exc:
        raise InputError(source, None, f"invalid JSON: line {exc.lineno}: {exc.msg}") from None
    except ValueError as exc:                 # an integer of over 4300 digits
        raise InputError(source, None, f"invalid JSON: {_unreadable(exc)}") from None
    if nesting_depth(doc) > MAX_DEPTH:
        raise deep
    return doc


def nesting_depth(doc: Any, limit: int = MAX_DEPTH) -> int:
    """How deeply lists and mappings nest in ``doc`` (0 for a plain value), counted without
    recursion and only up to ``limit + 1`` (so a document containing itself ends too)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(doc, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, Mapping):
            children = list(value.values())
        elif isinstance(value, (list, tuple)):
            children = list(value)
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        if deepest > limit:
            break
        stack.extend((child, depth) for child in children)
    return deepest


class Fields:
    """Field readers bound to one input source (a file name, or '--set' for overrides)."""

    def __init__(self, source: str):
        self.source = source

    def error(self, field: str | None, message: str) -> InputError:
        """An InputError for ``field`` of this source."""
        return InputError(self.source, field or None, message)

    def mapping(self, value: Any, field: str, allowed: Iterable[str],
                required: Iterable[str] = ()) -> Mapping[str, Any]:
        """A mapping whose keys are all allowed (unknown keys get a did-you-mean) and present."""
        what = f"'{field}'" if field else "the top level"
        if not isinstance(value, Mapping):
            raise self.error(field, f"{what} must be a mapping of keys to values, "
                                    f"got {_kind(value)}")
        allowed = list(allowed)
        for key in value:
            if not isinstance(key, str):
                raise self.error(field, f"keys must be names, got {quote(key)}")
            if key not in allowed:
                raise self.error(join(field, key),
                                 f"unknown key{did_you_mean(key, allowed)}; "
                                 f"allowed here: {', '.join(allowed)}")
        for key in required:
            if key not in value:
                raise self.error(join(field, key), "required key is missing")
        return value

    def integer(self, value: Any, field: str, minimum: int | None = 1,
                maximum: int | None = None, unit: str = "") -> int:
        """An integer in [minimum, maximum]."""
        rule = range_rule("an integer", minimum, maximum, unit)
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer() and math.isfinite(value):
                value = int(value)
            else:
                raise self.error(field, f"must be {rule}, got {_show(value)}")
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise self.error(field, f"must be {rule}, got {show_number(value)}")
        return value

    def number(self, value: Any, field: str, minimum: float | None = 0.0,
               allow_inf: bool = False, positive: bool = False, unit: str = "",
               maximum: float | None = None, smallest: float | None = None) -> float:
        """A real number >= minimum (> 0 when positive) and <= maximum, 0 or at least
        ``smallest`` where given; 'inf' only where allowed."""
        what = number_rule(minimum, allow_inf, positive, unit, maximum, smallest)
        if isinstance(value, str) and value.strip().lower() in ("inf", ".inf", "infinity"):
            value = math.inf
        elif isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
            # YAML 1.1 reads 2e-12 (no dot) as text; it is meant as a number.
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                (isinstance(value, float) and math.isnan(value)):
            raise self.error(field, f"must be {what}, got {_show(value)}")
        if isinstance(value, int) and abs(value) >= 2**1023:   # float() would overflow
            raise self.error(field, f"must be {what}, got {show_number(value)}")
        value = float(value)
        if math.isinf(value):
            if value > 0 and allow_inf:
                return value
            raise self.error(field, f"must be {what}, got {value}")
        if (positive and value <= 0) or (minimum is not None and value < minimum) or \
                (maximum is not None and value > maximum) or \
                (smallest is not None and 0 < abs(value) < smallest):
            raise self.error(field, f"must be {what}, got {value:g}")
        return value

    def boolean(self, value: Any, field: str) -> bool:
        """true or false."""
        if not isinstance(value, bool):
            raise self.error(field, f"must be true or false, got {_show(value)}")
        return value

    def string(self, value: Any, field: str) -> str:
        """A non-empty string."""
        if not isinstance(value, str) or not value.strip():
            raise self.error(field, f"must be a non-empty string, got {_show(value)}")
        return value

    def name(self, value: Any, field: str, maximum: int = MAX_NAME) -> str:
        """A non-empty name of at most ``maximum`` characters (names reappear in every table
        and message)."""
        text = self.string(value, field)
        if len(text) > maximum:
            raise self.error(field, f"must be a name of at most {maximum} characters, got "
                                    f"{len(text):,}: {quote(text)}")
        return text

    def choice(self, value: Any, field: str, choices: Iterable[str]) -> str:
        """One of the given words (case-insensitive)."""
        choices = list(choices)
        if isinstance(value, str):
            for option in choices:
                if value.lower() == option.lower():
                    return option
        shown = _show(value)
        hint = did_you_mean(value, choices) if isinstance(value, str) else ""
        raise self.error(field, f"must be one of {', '.join(choices)}, got {shown}{hint}")

    def pair(self, value: Any, field: str, unit: str = "",
             maximum: int | None = None) -> tuple[int, int]:
        """A positive integer (square) or a list [h, w] of two positive integers."""
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise self.error(field, f"must be an integer or a list [h, w] of two integers, "
                                        f"got a list of {len(value)}")
            return (self.integer(value[0], join(field, 0), maximum=maximum, unit=unit),
                    self.integer(value[1], join(field, 1), maximum=maximum, unit=unit))
        n = self.integer(value, field, maximum=maximum, unit=unit)
        return n, n

    def sequence(self, value: Any, field: str) -> list[Any]:
        """A YAML list."""
        if not isinstance(value, list):
            raise self.error(field, f"must be a list, got {_kind(value)}")
        return value


def number_rule(minimum: float | None = 0.0, allow_inf: bool = False, positive: bool = False,
                unit: str = "", maximum: float | None = None,
                smallest: float | None = None) -> str:
    """What a number field takes, in words: 'a number >= 0 (cost units)', '0 or a number
    from 1e-100 to 1e+100', 'a positive number up to 1e+12 (bytes per cycle) or inf'."""
    if smallest is not None:
        what = f"0 or a number from {smallest:g}" + (f" to {maximum:g}" if maximum else "")
    elif positive:
        what = "a positive number" + (f" up to {maximum:g}" if maximum is not None else "")
    elif minimum is not None and maximum is not None:
        what = f"a number from {minimum:g} to {maximum:g}"
    elif minimum is not None:
        what = f"a number >= {minimum:g}"
    else:
        what = "a number" + (f" up to {maximum:g}" if maximum is not None else "")
    if unit:
        what += f" ({unit})"
    if allow_inf:
        what += " or inf"
    return what


def range_rule(what: str, minimum: int | None, maximum: int | None, unit: str) -> str:
    """What an integer field takes, in words: 'a positive integer up to 1,024 (nodes)'."""
    if minimum == 1 and maximum is not None:
        rule = f"a positive {what.removeprefix('an ')} up to {maximum:,}"
    elif minimum is not None and maximum is not None:
        rule = f"{what} from {minimum} to {maximum:,}"
    elif minimum == 1:
        rule = f"a positive {what.removeprefix('an ')}"
    elif minimum is not None:
        rule = f"{what} >= {minimum}"
    else:
        rule = what
    return f"{rule} ({unit})" if unit else rule


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"the boolean {value}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text {quote(value)}"
    return f"{type(value).__name__} {quote(value)}"


def _show(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (Mapping, list)):
        return _kind(value)
    if isinstance(value, (str, int)):
        return quote(value)
    return clip(str(value))
