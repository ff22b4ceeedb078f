"""The row format of the library bad-input suite (test_*_inputs.py in this folder).

A row is one input and what it must give: an exception type plus a fragment of its
message (plain text, not a regex), or, for an input that must be handled correctly, a
check called with the result. An error message must be a single line. A new case is
one ``Row(...)`` added to a table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass(frozen=True)
class Row:
    id: str
    call: Callable[[], Any]
    error: type[BaseException] | None = None
    match: str = ""
    expect: Callable[[Any], Any] | None = None

    def __post_init__(self) -> None:
        if (self.error is None) == (self.expect is None):
            raise ValueError(f"row {self.id!r}: give error=... or expect=..., exactly one")


def params(rows: Iterable[Row]) -> list:
    """``pytest.mark.parametrize`` values, one per row, named by the row's id."""
    rows = list(rows)
    ids = [r.id for r in rows]
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates, f"duplicate row ids {duplicates}"
    return [pytest.param(r, id=r.id) for r in rows]


def check(row: Row, *args: Any) -> None:
    """Run ``row.call(*args)``: the expected one-line error with its fragment, or the
    expected result (``args`` are what a table's rows share, e.g. a temporary folder)."""
    if row.error is None:
        row.expect(row.call(*args))
        return
    with pytest.raises(row.error) as info:
        row.call(*args)
    message = str(info.value)
    assert row.match in message, f"{message!r} lacks {row.match!r}"
    assert "\n" not in message.strip(), f"not one line: {message!r}"
