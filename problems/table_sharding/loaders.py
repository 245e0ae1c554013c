"""Read a user's embedding-table statistics (CSV or JSON) into ``table-sharding@1``
instance data.

CSV: a header row, then one row per table. Columns (any order): ``name``, ``rows``, ``dim``,
``pooling_factor`` (required), ``zipf_alpha`` and ``bytes_per_element`` (optional; an
empty cell takes the schema's default: 0 and 4). Other columns are refused, so a misspelled
column is not silently dropped. Numbers may be written ``1000000`` or ``1e6`` (but not
``1,000,000``, which is three cells); whole-number columns take integral values only.

JSON: either a list of table objects with the same fields, or an object with ``tables``
(that list) and optionally any other instance field (``devices`` or
``num_devices``/``memory_gb``, ``batch_size``, ``cost_model``, ``name``), which are kept as
given.

What the file does not give is filled in: ``batch_size`` 65,536 and identical devices of
:data:`DEFAULT_MEMORY_GB` GB, :data:`DEFAULT_NUM_DEVICES` of them or as many as hold the
tables at 80 % fill (edit the spec to describe the real machines). A table larger than a
device is then refused by the schema, naming it. Errors raise ``ValueError`` naming the
file, the row (data rows count from 1; the CSV line number follows), the table's name
when the row has one, and the column.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from designsvc.core.types import JsonDict
from problems.table_sharding.schema import BYTES_PER_GB, DEFAULT_BATCH_SIZE, Table

__all__ = [
    "COLUMNS",
    "DEFAULT_MEMORY_GB",
    "DEFAULT_NUM_DEVICES",
    "REQUIRED_COLUMNS",
    "load_tables_csv",
    "load_tables_json",
    "tables_to_csv",
]

REQUIRED_COLUMNS = ("name", "rows", "dim", "pooling_factor")
COLUMNS = (*REQUIRED_COLUMNS, "zipf_alpha", "bytes_per_element")
_INTEGER_COLUMNS = frozenset({"rows", "dim", "bytes_per_element"})
DEFAULT_NUM_DEVICES = 4
DEFAULT_MEMORY_GB = 16.0
_FILL = 0.8


def load_tables_csv(path: Path, *, num_devices: int | None = None, memory_gb: float = DEFAULT_MEMORY_GB) -> JsonDict:
    """Instance data from the CSV table statistics at ``path`` (see the module docstring);
    ``num_devices`` None picks the default count. Raises ``ValueError`` naming the file, row
    and column at fault, or ``OSError`` when the file cannot be read."""
    file = path.name
    text = path.read_text(encoding="utf-8-sig")
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None or not any(cell.strip() for cell in header):
        raise ValueError(f"{file}: empty file; the first row must name the columns {', '.join(COLUMNS)}")
    columns = [cell.strip() for cell in header]
    for c, column in enumerate(columns):
        if column not in COLUMNS:
            raise ValueError(
                f"{file}: header, column {c + 1} {column!r} is not known; columns are {', '.join(COLUMNS)}"
            )
        if columns.index(column) != c:
            raise ValueError(f"{file}: header, column {column!r} appears twice")
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ValueError(f"{file}: header lacks the column(s) {', '.join(missing)}")
    tables: list[JsonDict] = []
    for row_number, cells in enumerate(reader, start=1):
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        where = f"{file}: row {row_number} (line {line})"
        if len(cells) != len(columns):
            raise ValueError(f"{where}: has {len(cells)} cells; the header has {len(columns)} columns")
        entry: JsonDict = {}
        for column, cell in zip(columns, cells, strict=True):
            value = cell.strip()
            if value == "" and column not in REQUIRED_COLUMNS:
                continue
            entry[column] = _cell(value, column, where)
        tables.append(_checked_table(entry, where))
    if not tables:
        raise ValueError(f"{file}: no table rows after the header")
    return _instance_data(tables, {}, num_devices=num_devices, memory_gb=memory_gb)


def load_tables_json(path: Path, *, num_devices: int | None = None, memory_gb: float = DEFAULT_MEMORY_GB) -> JsonDict:
    """Instance data from JSON table statistics at ``path`` (a list of tables or an object
    with ``tables``; see the module docstring). Raises ``ValueError`` naming the file, the
    row (``tables[i]``) and the column (field) at fault, or ``OSError``."""
    file = path.name
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{file}: not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    rest: JsonDict = {}
    if isinstance(data, Mapping):
        if "tables" not in data:
            raise ValueError(f"{file}: a JSON object must have 'tables' (a list of tables)")
        rest = {str(k): v for k, v in data.items() if k != "tables"}
        data = data["tables"]
    if not isinstance(data, list):
        raise ValueError(f"{file}: expected a list of tables, got {type(data).__name__}")
    if not data:
        raise ValueError(f"{file}: the list of tables is empty")
    tables: list[JsonDict] = []
    for i, entry in enumerate(data):
        where = f"{file}: row {i + 1} (tables[{i}])"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where}: a table must be an object, got {type(entry).__name__}")
        unknown = sorted(str(k) for k in entry if k not in COLUMNS)
        if unknown:
            raise ValueError(f"{where}, column {unknown[0]!r}: not a table field; fields are {', '.join(COLUMNS)}")
        converted: JsonDict = {}
        for column, value in entry.items():
            whole = isinstance(value, float) and math.isfinite(value) and value.is_integer()
            # JSON writers often print 1e6 for a whole number.
            converted[str(column)] = int(value) if column in _INTEGER_COLUMNS and whole else value
        tables.append(_checked_table(converted, where))
    return _instance_data(tables, rest, num_devices=num_devices, memory_gb=memory_gb)


def tables_to_csv(tables: Sequence[Mapping[str, Any]]) -> str:
    """CSV text of table dicts (the columns of :data:`COLUMNS` they have), readable by
    :func:`load_tables_csv`."""
    columns = [c for c in COLUMNS if any(c in t for t in tables)]
    lines = [",".join(columns)]
    for table in tables:
        lines.append(",".join(_csv_text(table.get(c, "")) for c in columns))
    return "\n".join(lines) + "\n"


def _csv_text(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if any(ch in text for ch in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _cell(value: str, column: str, where: str) -> Any:
    """A CSV cell as the schema's type for ``column``."""
    if column == "name":
        if not value:
            raise ValueError(f"{where}, column 'name': empty; every table needs a name")
        return value
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{where}, column {column!r}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{where}, column {column!r}: {value!r} is not a finite number")
    if column in _INTEGER_COLUMNS:
        if not number.is_integer():
            raise ValueError(f"{where}, column {column!r}: {value!r} is not a whole number")
        try:
            return int(value)
        except ValueError:
            return int(number)
    return number


def _checked_table(entry: JsonDict, where: str) -> JsonDict:
    """``entry`` validated as a :class:`Table`, the first error named by its column (and
    by the table's name when it has one)."""
    name = entry.get("name")
    if isinstance(name, str) and name:
        where = f"{where}, table {name}"
    try:
        Table.model_validate(entry)
    except ValidationError as exc:
        error = exc.errors()[0]
        column = str(error["loc"][0]) if error["loc"] else "?"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "missing":
            message = "missing; every table needs it"
        raise ValueError(f"{where}, column {column!r}: {message} (got {error.get('input')!r})") from None
    return entry


def _instance_data(tables: list[JsonDict], rest: JsonDict, *, num_devices: int | None, memory_gb: float) -> JsonDict:
    """The instance: ``rest`` as given, the missing batch size and devices filled in."""
    data: JsonDict = {**rest, "tables": tables}
    data.setdefault("batch_size", DEFAULT_BATCH_SIZE)
    if not any(k in rest for k in ("devices", "num_devices", "memory_gb")):
        total_gb = math.fsum(t["rows"] * t["dim"] * t.get("bytes_per_element", 4) for t in tables) / BYTES_PER_GB
        count = (
            num_devices
            if num_devices is not None
            else max(DEFAULT_NUM_DEVICES, math.ceil(total_gb / (_FILL * memory_gb)))
        )
        data["num_devices"] = count
        data["memory_gb"] = memory_gb
    return data
