"""What the CLI commands share: the consoles, and one ``error:`` line for expected errors.

>>> with expected_errors(debug=True):
...     pass
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator, NoReturn

from rich.console import Console
from rich.markup import escape

from assay.errors import AssayError

__all__ = ["console", "error_console", "expected_errors", "fail"]

console = Console()
error_console = Console(stderr=True)


def fail(message: str) -> NoReturn:
    """Print ``error: message`` on stderr and exit with status 2."""
    # soft_wrap: paths in errors stay on one line (copyable, greppable); escape: "[" in
    # a path or value is text, not markup.
    error_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
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
