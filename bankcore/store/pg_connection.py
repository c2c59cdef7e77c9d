"""The connection a PostgreSQL bank's query mixins use: a pooled psycopg connection that answers the way DuckDB's
Python client does (`execute` returning rows or a change count, `executemany`, `register` an Arrow table,
`sql(...).to_arrow_table()` / `to_arrow_reader()`), each statement passed through `dialect.to_postgres`.

Registered Arrow tables become temporary tables when a statement reads them, or a COPY straight into the target
for the mixins' bulk `INSERT INTO t (cols) SELECT cols FROM batch`; Arrow reads fetch in binary so vectors decode
with numpy. Values come back as DuckDB gives them: JSON as its text, numerics as floats.

A read-only connection (a store opened `read_only`) is one the server keeps read-only: the pool opens it with
`default_transaction_read_only=on` and sets it again on every checkout (`configure_read_only`,
`check_read_only`), so any write — ours by mistake included — fails with the server's `ReadOnlySqlTransaction`. A
read-only transaction refuses CREATE TABLE, even of a temporary table, so there a registered table is handed to the
statement as a CTE over `unnest` of array parameters instead (`_with_registered`).
"""

from __future__ import annotations

import re
from typing import Any, Iterator

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute  # noqa: F401 — pa.compute
from psycopg.adapt import Loader
from psycopg.pq import Format
from psycopg.types.numeric import FloatLoader, NumericBinaryLoader
from psycopg.types.string import TextBinaryLoader, TextLoader
from psycopg_pool import ConnectionPool

from .dialect import ddl_to_postgres, is_ddl, to_postgres

# The mixins bulk-insert through `INSERT INTO t (cols) SELECT cols FROM <registered batch>`: on PostgreSQL that
# becomes one COPY straight into t (text JSON into json columns needs no cast that way).
_BULK_INSERT = re.compile(r"^\s*INSERT INTO (\w+) \(([^)]*)\) SELECT ([^()]*?) FROM (\w+)\s*$", re.S)
_ARROW_TO_PG = [
    (pa.types.is_boolean, "boolean"), (pa.types.is_int32, "integer"), (pa.types.is_integer, "bigint"),
    (pa.types.is_float32, "real"), (pa.types.is_floating, "double precision"), (pa.types.is_timestamp, "timestamp"),
    (pa.types.is_string, "text"), (pa.types.is_large_string, "text"), (pa.types.is_null, "text"),
]
# Result column types (by PostgreSQL type oid) for the Arrow tables the mixins read: a column of nulls keeps its type.
_OID_TO_ARROW = {16: pa.bool_(), 20: pa.int64(), 21: pa.int64(), 23: pa.int64(), 700: pa.float64(),
                 701: pa.float64(), 1700: pa.float64(), 25: pa.string(), 1043: pa.string(), 114: pa.string(),
                 1114: pa.timestamp("us"), 1021: pa.list_(pa.float32()), 1022: pa.list_(pa.float32())}


def _pg_type(field: pa.Field) -> str:
    if pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
        return _pg_type(pa.field("x", field.type.value_type)) + "[]"
    for test, name in _ARROW_TO_PG:
        if test(field.type):
            return name
    raise TypeError(f"no PostgreSQL column type for Arrow {field.type} ({field.name})")


class _Rows:
    """The result of a statement that returns no rows: DuckDB answers with the count of rows it changed."""

    def __init__(self, count: int):
        self.description = [("Count",)]
        self._rows = [(count,)]

    def fetchall(self) -> list[tuple]:
        return self._rows

    def fetchone(self) -> tuple | None:
        return self._rows[0]


_FLOAT4_ARRAY = 1021  # real[]: item vectors


class _Float4ArrayBytes(Loader):
    """A real[] in binary as its bytes, for `_float4_arrays` to read with numpy (parsing vectors as text or as
    Python floats costs seconds per hundred thousand)."""

    format = Format.BINARY

    def load(self, data) -> bytes:
        return bytes(data)


class _NumericBinaryAsFloat(NumericBinaryLoader):
    def load(self, data) -> float:
        return float(super().load(data))


def _float4_arrays(values) -> pa.Array:
    """Binary real[] values (20-byte header for one dimension, then a length word and a big-endian float per
    element; None for NULL) as an Arrow list<float32>."""
    lengths, parts = [], []
    for value in values:
        if value is None:
            lengths.append(None)
            continue
        ndim = int.from_bytes(value[:4], "big")
        floats = np.frombuffer(value, ">f4", offset=12 + 8 * ndim)[1::2] if ndim else np.empty(0, ">f4")
        lengths.append(len(floats))
        parts.append(floats)
    offsets = np.zeros(len(lengths) + 1, np.int32)
    np.cumsum([n or 0 for n in lengths], out=offsets[1:])
    flat = np.concatenate(parts).astype(np.float32) if parts else np.empty(0, np.float32)
    mask = pa.array([n is None for n in lengths]) if None in lengths else None
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat), mask=mask)


class _Relation:
    """What `con.sql(...)` returns in DuckDB, as far as the mixins use it: the result as Arrow."""

    def __init__(self, cursor: psycopg.Cursor):
        self._cursor = cursor
        self._schema = pa.schema([(c.name, _OID_TO_ARROW.get(c.type_code)) for c in cursor.description]) \
            if all(c.type_code in _OID_TO_ARROW for c in cursor.description) else None

    def _table(self, rows: list[tuple]) -> pa.Table:
        names = [c.name for c in self._cursor.description]
        columns = list(zip(*rows)) if rows else [[] for _ in names]
        if self._schema is not None:
            return pa.table([_float4_arrays(col) if c.type_code == _FLOAT4_ARRAY else pa.array(list(col), f.type)
                             for col, f, c in zip(columns, self._schema, self._cursor.description)],
                            schema=self._schema)
        return pa.table({name: list(col) for name, col in zip(names, columns)})

    def to_arrow_table(self) -> pa.Table:
        return self._table(self._cursor.fetchall())

    def to_arrow_reader(self, batch_rows: int) -> Iterator[pa.RecordBatch]:
        while rows := self._cursor.fetchmany(batch_rows):
            yield from self._table(rows).to_batches()


class PgConnection:
    """A pooled psycopg connection that the DuckDB-minded query mixins can use unchanged (see the module doc)."""

    def __init__(self, pool: ConnectionPool, con: psycopg.Connection, *, read_only: bool = False):
        self._pool = pool
        self.raw = con
        self.read_only = read_only  # the server refuses writes: registered tables go in as CTEs, not temp tables
        self._registered: dict[str, pa.Table] = {}
        self._materialized: set[str] = set()

    def close(self) -> None:
        for name in list(self._materialized):
            self.unregister(name)
        self._pool.putconn(self.raw)

    def execute(self, sql: str, params: Any = None, *, binary: bool = False):
        if self.raw.closed and sql == "ROLLBACK":
            return _Rows(0)  # the server dropped the connection: it rolled the transaction back itself
        if is_ddl(sql):
            sql = ddl_to_postgres(sql)
        bulk = _BULK_INSERT.match(sql)
        if bulk and bulk.group(2) == bulk.group(3) and bulk.group(4) in self._registered and not params:
            return self._copy_into(bulk.group(1), bulk.group(2), self._registered[bulk.group(4)])
        if not self.read_only:
            self._materialize_for(sql)
        translated = to_postgres(sql)
        statement, values = translated.sql, translated.params(params)
        if self.read_only:
            statement, values = self._with_registered(statement, values)
        cursor = self.raw.cursor(binary=binary)
        cursor.execute(statement, values)
        return cursor if cursor.description is not None else _Rows(max(cursor.rowcount, 0))

    def _with_registered(self, statement: str, values: list) -> tuple[str, list]:
        """`statement` with each registered table it reads put in front as `WITH name AS (SELECT * FROM unnest(...))`
        over one array parameter per column (a one-column table made distinct, as in `register`)."""
        ctes, arrays = [], []
        for name, table in self._registered.items():
            if not re.search(rf"\b{name}\b", statement):
                continue
            if table.num_columns == 1:
                table = pa.table({table.column_names[0]: pa.compute.unique(table.column(0).combine_chunks())})
            casts = []
            for field in table.schema:
                if pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
                    raise TypeError(f"a read-only PostgreSQL session cannot stage the list column {field.name} "
                                    f"of {name} (no temporary tables there)")
                casts.append(f"%s::{_pg_type(field)}[]")
                arrays.append(table.column(field.name).to_pylist())
            columns = ", ".join(f'"{c}"' for c in table.column_names)
            ctes.append(f"{name} AS (SELECT * FROM unnest({', '.join(casts)}) AS {name}({columns}))")
        if not ctes:
            return statement, values
        opening = re.match(r"\s*WITH\s+(RECURSIVE\s+)?", statement, re.IGNORECASE)
        if opening:
            statement = f"WITH {opening.group(1) or ''}{', '.join(ctes)}, {statement[opening.end():]}"
        else:
            statement = f"WITH {', '.join(ctes)} {statement}"
        return statement, arrays + list(values)

    def executemany(self, sql: str, rows: list) -> None:
        translated = to_postgres(sql)
        with self.raw.cursor() as cursor:
            cursor.executemany(translated.sql, [translated.params(r) for r in rows])

    def sql(self, sql: str, params: Any = None) -> _Relation:
        """A result read as Arrow, fetched in binary (vectors come back as bytes numpy reads directly)."""
        return _Relation(self.execute(sql, params, binary=True))

    def register(self, name: str, table: pa.Table) -> None:
        """Keep an Arrow table under `name`; it becomes a temporary table when a statement reads it. A one-column
        table (a list of ids) is made distinct, so a `SEMI JOIN` on it can run as a plain join."""
        self._registered[name] = table

    def unregister(self, name: str) -> None:
        self._registered.pop(name, None)
        if name in self._materialized:
            self._materialized.discard(name)
            self.raw.execute(f"DROP TABLE IF EXISTS {name}")

    def _materialize_for(self, sql: str) -> None:
        for name, table in self._registered.items():
            if name in self._materialized or not re.search(rf"\b{name}\b", sql):
                continue
            columns = ", ".join(f'"{f.name}" {_pg_type(f)}' for f in table.schema)
            self.raw.execute(f"CREATE TEMPORARY TABLE {name} ({columns})")
            self._materialized.add(name)
            if table.num_columns == 1:
                table = pa.table({table.column_names[0]: pa.compute.unique(table.column(0).combine_chunks())})
            self._copy_into(name, ", ".join(f'"{c}"' for c in table.column_names), table)

    def _copy_into(self, target: str, columns: str, table: pa.Table) -> _Rows:
        names = [c.strip().strip('"') for c in columns.split(",")]
        data = table.select(names).to_pydict()
        with self.raw.cursor() as cursor, cursor.copy(f"COPY {target} ({columns}) FROM STDIN") as copy:
            for row in zip(*(data[n] for n in names)):
                copy.write_row(row)
        return _Rows(table.num_rows)


_READ_ONLY = "SET default_transaction_read_only = on"


def configure_read_only(con: psycopg.Connection) -> None:
    """`configure`, and the session made read-only by a statement too, in case something between us and the server
    (a pooler) dropped the startup option that asked for it."""
    configure(con)
    con.execute(_READ_ONLY)


def check_read_only(con: psycopg.Connection) -> None:
    """The pool's check on every checkout of a read-only connection: one round trip that shows the connection is
    alive (as `ConnectionPool.check_connection`'s empty statement does) and puts read-only back, should code that
    held the connection before have turned it off."""
    con.execute(_READ_ONLY)


def configure(con: psycopg.Connection) -> None:
    """Give the mixins what DuckDB gives them: JSON columns as their text, numerics (sum, avg) as floats."""
    con.adapters.register_loader("json", TextLoader)
    con.adapters.register_loader("json", TextBinaryLoader)
    con.adapters.register_loader("numeric", FloatLoader)
    con.adapters.register_loader("numeric", _NumericBinaryAsFloat)
    con.adapters.register_loader(_FLOAT4_ARRAY, _Float4ArrayBytes)
