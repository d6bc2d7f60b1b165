"""What the CLI commands share: the consoles, and one ``error:`` line for expected errors.

>>> with expected_errors(debug=True):
...     pass
"""
from __future__ import annotations

import re
import sys
from contextlib import contextmanager
from typing import Iterator, NoReturn

from rich.console import Console
from rich.markup import escape

from assay.errors import AssayError

__all__ = ["console", "error_console", "expected_errors", "fail", "terminal_safe"]

# C0 and C1 controls (ESC starts a terminal escape sequence), DEL, and the bidirectional
# controls that reorder what the terminal shows
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_OR_NEWLINE = re.compile(_UNSAFE.pattern[:-1] + "\n]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: str, *, newlines: bool = False) -> str:
    r"""``text`` with control characters, terminal escape sequences and bidirectional
    controls shown as escapes, so that what a record holds cannot rewrite the terminal;
    newlines too unless ``newlines`` (one line stays one line).

    >>> terminal_safe("ok\x1b[2J\nnext")
    'ok\\x1b[2J\\x0anext'
    >>> terminal_safe("a\nb\tc", newlines=True)
    'a\nb\tc'
    """
    return (_UNSAFE if newlines else _UNSAFE_OR_NEWLINE).sub(_escape, text)


console = Console()
error_console = Console(stderr=True)


def fail(message: str) -> NoReturn:
    """Print ``error: message`` on stderr and exit with status 2."""
    # soft_wrap: paths in errors stay on one line (copyable, greppable); escape: "[" in
    # a path or value is text, not markup.
    error_console.print(f"[bold red]error:[/] {escape(terminal_safe(message))}", soft_wrap=True)
    sys.exit(2)


@contextmanager
def expected_errors(debug: bool = False, also: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Turn assay's own errors (and ``also``) into one ``error:`` line; ``debug`` keeps the traceback."""
    try:
        yield
    except (AssayError, *also) as exc:
        if debug:
            raise
        fail(str(exc))
