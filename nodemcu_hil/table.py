"""Plain-text tables, column-aligned, for the CLI and the repository's bench and campaigns."""

from __future__ import annotations

from collections.abc import Sequence


def format_table(header: Sequence[object], rows: Sequence[Sequence[object]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    return "\n".join("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
                     for row in (header, *rows))


def format_records(records: Sequence[dict], *, empty: str) -> str:
    """A table of dicts: the columns are every key, in the order they first appear."""
    if not records:
        return empty
    columns = list(dict.fromkeys(key for record in records for key in record))
    return format_table(columns, [[record.get(column, "") for column in columns] for record in records])
