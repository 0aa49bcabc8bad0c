"""Errors that reach the user as one clear message (exit code 2), never as a traceback."""

from __future__ import annotations

import difflib
import math
import reprlib
from collections.abc import Iterable


class NnsolveError(Exception):
    """A mistake in the user's input or request; the CLI prints it and exits with code 2."""


class InputError(NnsolveError):
    """A bad value in an input file: names the file, the field and what is allowed."""

    def __init__(self, source: str | None, field: str | None, message: str):
        self.source = source
        self.field = field
        self.message = message
        where = ": ".join(part for part in (source, field) if part)
        text = f"{where}: {message}" if where else message
        # One line, whatever the input held (values and keys may contain line breaks).
        super().__init__(text.replace("\r", "\\r").replace("\n", "\\n"))


class TooLarge(NnsolveError):
    """A problem beyond what nnsolve computes exactly or within its budgets: counts past the
    cost model's 64-bit range, a solver model that cannot hold it, an exhaustive space too
    large to enumerate. The message says what is too large and what to change; the search
    prefixes the layer's name."""


class InfeasibleError(NnsolveError):
    """The hardware cannot hold a layer under any schedule in the search space."""


#: Most characters of a user's value that an error message repeats (a whole file pasted
#: where a name was expected must not fill the terminal).
MAX_SHOWN = 60


def clip(text: object, limit: int = MAX_SHOWN) -> str:
    """``text`` as a string of at most ``limit`` characters: longer ones are cut and end
    in '...'."""
    text = str(text)
    return text if len(text) <= limit else text[:max(limit - 3, 1)] + "..."


def quote(value: object, limit: int = MAX_SHOWN) -> str:
    """A user's value as an error message shows it: its repr, of at most ``limit``
    characters (a string is cut before quoting, so the quotes stay)."""
    if isinstance(value, str):
        return repr(clip(value, limit))
    if isinstance(value, int) and not isinstance(value, bool):
        return clip(show_number(value), limit)
    return clip(_SHORT_REPR.repr(value), limit)      # containers: bounded, never recursive


_SHORT_REPR = reprlib.Repr()
_SHORT_REPR.maxlevel = 3
_SHORT_REPR.maxstring = _SHORT_REPR.maxother = MAX_SHOWN
_SHORT_REPR.maxlong = MAX_SHOWN


def show_number(value: int) -> str:
    """An integer for a message: its digits, or for a huge one (Python refuses to print more
    than 4300 digits) its size."""
    if value.bit_length() <= 3 * MAX_SHOWN:          # under MAX_SHOWN digits
        return str(value)
    sign = "a negative" if value < 0 else "an"
    return f"{sign} integer of about {value.bit_length() * math.log10(2):.0f} digits"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ' (did you mean ...?)' hint for a misspelt key or name, or '' when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def join(field: str, key: str | int) -> str:
    """The dotted path of a nested field, e.g. ``hardware.nodes`` or ``layers[3].kernel``."""
    if isinstance(key, int):
        return f"{field}[{key}]"
    if not key.isprintable() or key != key.strip() or not key:
        return f"{field}[{quote(key)}]"       # keep odd keys visible and on one line
    key = clip(key)
    return f"{field}.{key}" if field else key
