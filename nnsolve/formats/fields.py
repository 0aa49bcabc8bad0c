"""Reading YAML input: a safe loader and field readers whose errors name file, field and rule.

Every input file (scenario, network, sweep, schedule) goes through these helpers, so a user
mistake is always reported the same way: ``file: field.path: what is wrong (what is allowed)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError, did_you_mean, join

_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if isinstance(key, Iterable) and not isinstance(key, str):
            raise yaml.constructor.ConstructorError(
                None, None, f"a mapping key must be a plain value, got {key!r}",
                key_node.start_mark)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice (first on line {seen[key] + 1})",
                key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: str | Path, what: str = "file") -> Any:
    """Parse a YAML file safely (no code execution); a missing or bad file is an InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), None, f"{what} not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), None, f"cannot read {what}: {exc}") from None
    return parse_yaml(text, str(path))


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML text safely; a syntax error names the source and the line."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        problem = " ".join(str(problem).split())      # one line, whatever PyYAML printed
        raise InputError(source, None, f"invalid YAML: {where}{problem}") from None


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
                raise self.error(field, f"keys must be names, got {key!r}")
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
        rule = _range_rule("an integer", minimum, maximum, unit)
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer() and math.isfinite(value):
                value = int(value)
            else:
                raise self.error(field, f"must be {rule}, got {_show(value)}")
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise self.error(field, f"must be {rule}, got {value}")
        return value

    def number(self, value: Any, field: str, minimum: float | None = 0.0,
               allow_inf: bool = False, positive: bool = False, unit: str = "",
               maximum: float | None = None) -> float:
        """A real number >= minimum (> 0 when positive) and <= maximum; 'inf' only where
        allowed."""
        what = "a positive number" if positive else "a number"
        if minimum is not None and not positive:
            what += f" >= {minimum:g}"
        if maximum is not None:
            what += f" <= {maximum:g}"
        if unit:
            what += f" ({unit})"
        if allow_inf:
            what += " or inf"
        if isinstance(value, str) and value.strip().lower() in ("inf", ".inf", "infinity"):
            value = math.inf
        elif isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
            # YAML 1.1 reads 2e-12 (no dot) as text; it is meant as a number.
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or (isinstance(value, float) and math.isnan(value)):
            raise self.error(field, f"must be {what}, got {_show(value)}")
        try:
            value = float(value)
        except OverflowError:             # an integer beyond the float range
            value = math.inf if value > 0 else -math.inf
        if math.isinf(value):
            if value > 0 and allow_inf:
                return value
            raise self.error(field, f"must be {what}, got {value}")
        if (positive and value <= 0) or (minimum is not None and value < minimum) \
                or (maximum is not None and value > maximum):
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


def _range_rule(what: str, minimum: int | None, maximum: int | None, unit: str) -> str:
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
        return f"the text {value!r}"
    return f"{type(value).__name__} {value!r}"


def _show(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (Mapping, list)):
        return _kind(value)
    if isinstance(value, str):
        return repr(value)
    return str(value)
