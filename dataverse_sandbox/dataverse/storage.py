"""SQLite storage of the sandbox's tables, row versions and the deletion log.

One connection guarded by a re-entrant lock (file databases run in WAL mode): requests are short, so serialising
them keeps every read consistent with the global version counter without SQLite's busy handling. Transactions
nest through savepoints, so a bulk action or a ``$batch`` change set can wrap several writes and roll them back as
one. Every write takes the next value of one global counter as the row's ``versionnumber`` (its ETag), and every
delete is logged with its version for change tracking.

Not for request semantics (conditional headers, upsert rules, validation): those live in :mod:`.records`.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from .errors import DataverseError, duplicate_key, duplicate_record, invalid_argument
from .guid_order import COLLATION, GuidOrder, register
from .metadata import AlternateKey, AttributeKind, AttributeMeta, EntityMeta

__all__ = ["RESERVED_TABLES", "Row", "Storage"]

logger = logging.getLogger(__name__)

#: A stored row: column name to stored value (storage convention of :mod:`.metadata`).
Row = dict[str, Any]

#: The storage's own tables: no table created through the Web API may take these names (nor ``sqlite_…``).
RESERVED_TABLES = frozenset({"sandbox_deleted", "sandbox_version", "sandbox_files", "sandbox_file_parts"})

# Columns clients commonly sort or filter on, plus the lookups that deletes and related-row queries follow.
_INDEXED = ("name", "modifiedon", "lastname", "_parentcustomerid_value", "_primarycontactid_value")


class Storage:
    """The tables of one sandbox.

    :param path: a database file, or ``:memory:``.
    :param catalog: the tables to create (if missing).
    :param guid_order: how GUID columns sort and compare (:mod:`.guid_order`): SQL Server's order by default.
    """

    def __init__(self, path: str, catalog: Mapping[str, EntityMeta], guid_order: GuidOrder = "sqlserver") -> None:
        self.catalog = catalog
        self._lock = threading.RLock()
        self._insert_sql: dict[tuple[str, tuple[str, ...]], str] = {}
        self._local = threading.local()
        # isolation_level=None: transactions are opened explicitly by :meth:`transaction`.
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        register(self._conn, guid_order)
        if path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._create_schema()
        self._version = self._load_version()

    # -- schema -------------------------------------------------------------------------------------------------

    def _create_schema(self) -> None:
        with self._lock:
            for entity in self.catalog.values():
                self._conn.execute(self._table_ddl(entity))
                for column in _INDEXED:
                    if column in entity.columns:
                        self._conn.execute(
                            f"CREATE INDEX IF NOT EXISTS ix_{entity.logical_name}_{column.strip('_')} "
                            f"ON {entity.logical_name}({column})"
                        )
                self._conn.execute(
                    f"CREATE INDEX IF NOT EXISTS ix_{entity.logical_name}_version "
                    f"ON {entity.logical_name}(versionnumber)"
                )
                for key in entity.alternate_keys:
                    columns = ", ".join(key.attributes)
                    self._conn.execute(
                        f"CREATE UNIQUE INDEX IF NOT EXISTS ak_{entity.logical_name}_{key.schema_name} "
                        f"ON {entity.logical_name}({columns})"
                    )
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS sandbox_deleted "
                "(version INTEGER PRIMARY KEY, entity TEXT NOT NULL, id TEXT NOT NULL)"
            )
            self._conn.execute("CREATE TABLE IF NOT EXISTS sandbox_version (id INTEGER PRIMARY KEY, value INTEGER)")
            # The content of file and image columns (see .files); a row's files go when the row goes.
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS sandbox_files (file_id TEXT PRIMARY KEY, entity TEXT NOT NULL, "
                "record_id TEXT NOT NULL, attribute TEXT NOT NULL, name TEXT, mime TEXT, data BLOB)"
            )
            self._conn.execute(
                "CREATE UNIQUE INDEX IF NOT EXISTS ix_sandbox_files_owner "
                "ON sandbox_files(entity, record_id, attribute)"
            )
            # Content in parts of at most 4 MB (a file may be larger than one SQLite value can hold).
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS sandbox_file_parts (file_id TEXT NOT NULL, seq INTEGER NOT NULL, "
                "data BLOB NOT NULL, PRIMARY KEY (file_id, seq))"
            )

    @staticmethod
    def _column_ddl(entity: EntityMeta, attribute: AttributeMeta) -> str:
        spec = f"{attribute.column} {attribute.kind.sql_type}"
        if attribute.logical_name == entity.primary_id:
            spec += " PRIMARY KEY"
        elif attribute.kind in (AttributeKind.STRING, AttributeKind.MEMO):
            # Dataverse compares and sorts text case-insensitively (SQL Server's default collation).
            spec += " COLLATE NOCASE"
        if attribute.kind in (AttributeKind.LOOKUP, AttributeKind.UNIQUEIDENTIFIER):
            # Dataverse sorts and compares uniqueidentifier columns in SQL Server's order, not as text.
            spec += f" COLLATE {COLLATION}"
        return spec

    @classmethod
    def _table_ddl(cls, entity: EntityMeta) -> str:
        columns = [cls._column_ddl(entity, attribute) for attribute in entity.attributes]
        return f"CREATE TABLE IF NOT EXISTS {entity.logical_name} ({', '.join(columns)})"

    # -- schema changes (metadata writes through the Web API; see .schema_changes) ----------------------------

    def add_table(self, entity: EntityMeta) -> None:
        """Create the SQLite table of a new table.

        A table of that name left in a database file by an earlier run goes first: table definitions created
        through the Web API live in memory, so its metadata went with that run.
        """
        if entity.logical_name in RESERVED_TABLES or entity.logical_name.startswith("sqlite_"):
            raise invalid_argument(f"The name '{entity.logical_name}' is reserved by the sandbox's storage.")
        with self.transaction() as conn:
            conn.execute(f"DROP TABLE IF EXISTS {entity.logical_name}")
            conn.execute(self._table_ddl(entity))
            conn.execute(
                f"CREATE INDEX IF NOT EXISTS ix_{entity.logical_name}_version ON {entity.logical_name}(versionnumber)"
            )

    def drop_table(self, entity: EntityMeta) -> None:
        """Drop a table with its rows, files and deletion log."""
        if entity.logical_name in RESERVED_TABLES or entity.logical_name.startswith("sqlite_"):
            raise invalid_argument(f"The name '{entity.logical_name}' is reserved by the sandbox's storage.")
        with self.transaction() as conn:
            conn.execute(f"DROP TABLE IF EXISTS {entity.logical_name}")
            conn.execute(
                "DELETE FROM sandbox_file_parts WHERE file_id IN (SELECT file_id FROM sandbox_files WHERE entity = ?)",
                (entity.logical_name,),
            )
            conn.execute("DELETE FROM sandbox_files WHERE entity = ?", (entity.logical_name,))
            conn.execute("DELETE FROM sandbox_deleted WHERE entity = ?", (entity.logical_name,))

    def add_column(self, entity: EntityMeta, attribute: AttributeMeta) -> None:
        """Add a column to an existing table (existing rows hold null)."""
        with self.transaction() as conn:
            conn.execute(f"ALTER TABLE {entity.logical_name} ADD COLUMN {self._column_ddl(entity, attribute)}")

    def drop_column(self, entity: EntityMeta, attribute: AttributeMeta) -> None:
        """Drop a column (and the indexes on it) from a table."""
        with self.transaction() as conn:
            for (index,) in conn.execute(
                "SELECT DISTINCT il.name FROM sqlite_master m, pragma_index_list(m.name) il, "
                "pragma_index_info(il.name) ii WHERE m.name = ? AND ii.name = ?",
                (entity.logical_name, attribute.column),
            ).fetchall():
                conn.execute(f'DROP INDEX IF EXISTS "{index}"')
            conn.execute(f"ALTER TABLE {entity.logical_name} DROP COLUMN {attribute.column}")

    def add_key(self, entity: EntityMeta, key: AlternateKey) -> bool:
        """Create the unique index of an alternate key.

        :returns: ``False`` when existing rows hold duplicate values (no index is created: the key is ``Failed``).
        """
        columns = ", ".join(key.attributes)
        try:
            with self.transaction() as conn:
                conn.execute(
                    f'CREATE UNIQUE INDEX IF NOT EXISTS "ak_{entity.logical_name}_{key.schema_name}" '
                    f"ON {entity.logical_name}({columns})"
                )
        except sqlite3.IntegrityError:
            return False
        return True

    def drop_key(self, entity: EntityMeta, key: AlternateKey) -> None:
        """Drop the unique index of an alternate key."""
        with self.transaction() as conn:
            conn.execute(f'DROP INDEX IF EXISTS "ak_{entity.logical_name}_{key.schema_name}"')

    def _load_version(self) -> int:
        highest = 0
        for entity in self.catalog.values():
            value = self._conn.execute(f"SELECT max(versionnumber) FROM {entity.logical_name}").fetchone()[0]  # noqa: S608 - identifiers come from the table metadata; values are bound parameters
            highest = max(highest, value or 0)
        for table in ("sandbox_deleted", "sandbox_version"):
            column = "version" if table == "sandbox_deleted" else "value"
            value = self._conn.execute(f"SELECT max({column}) FROM {table}").fetchone()[0]  # noqa: S608 - identifiers come from the table metadata; values are bound parameters
            highest = max(highest, value or 0)
        # Start well above zero so ETags look like Dataverse's and never collide with an empty table's 0.
        return max(highest, 1000)

    # -- transactions and versions ------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run writes atomically; nested calls become savepoints of the outer transaction.

        :returns: a context manager yielding the connection; an exception rolls back this level and propagates.
        """
        with self._lock:
            depth: int = getattr(self._local, "depth", 0)
            name = f"sp{depth}"
            self._conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT {name}")
            self._local.depth = depth + 1
            undo = self._undo_stack()
            undo.append([])
            try:
                yield self._conn
            except BaseException:
                self._local.depth = depth
                if depth == 0:
                    self._conn.execute("ROLLBACK")
                else:
                    self._conn.execute(f"ROLLBACK TO {name}")
                    self._conn.execute(f"RELEASE {name}")
                for callback in reversed(undo.pop()):
                    callback()
                raise
            self._local.depth = depth
            done = undo.pop()
            if undo:
                undo[-1].extend(done)
            if depth == 0:
                self._conn.execute("INSERT OR REPLACE INTO sandbox_version (id, value) VALUES (1, ?)", (self._version,))
                self._conn.execute("COMMIT")
            else:
                self._conn.execute(f"RELEASE {name}")

    @property
    def in_transaction(self) -> bool:
        """Whether this thread is inside :meth:`transaction` (and so holds the storage's lock)."""
        return bool(getattr(self._local, "depth", 0))

    def _undo_stack(self) -> list[list[Callable[[], None]]]:
        stack: list[list[Callable[[], None]]] | None = getattr(self._local, "undo", None)
        if stack is None:
            stack = []
            self._local.undo = stack
        return stack

    def on_rollback(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` if the current transaction (or an enclosing one) rolls back: the catalog's undo.

        Outside a transaction the change is final and nothing is kept.
        """
        stack = self._undo_stack()
        if stack:
            stack[-1].append(callback)

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """:returns: a context manager yielding the connection for reads, consistent with :attr:`version`."""
        with self._lock:
            yield self._conn

    @property
    def version(self) -> int:
        """:returns: the highest row version handed out so far."""
        with self._lock:
            return self._version

    def next_version(self) -> int:
        """:returns: a new row version, higher than every earlier one."""
        with self._lock:
            self._version += 1
            return self._version

    # -- rows ---------------------------------------------------------------------------------------------------

    def fetch(self, entity: EntityMeta, where: str, params: Sequence[Any]) -> Row | None:
        """:returns: the first row matching ``where`` (SQL with ``?`` placeholders), or ``None``."""
        rows = self.fetch_all(entity, where, params, limit=1)
        return rows[0] if rows else None

    def fetch_all(
        self, entity: EntityMeta, where: str, params: Sequence[Any], *, order_by: str = "", limit: int | None = None
    ) -> list[Row]:
        """Select rows of one table.

        :param entity: the table.
        :param where: a SQL condition with ``?`` placeholders (``1`` for every row).
        :param params: the placeholder values.
        :param order_by: a SQL ``ORDER BY`` list, or empty.
        :param limit: the most rows to return, or ``None``.
        :returns: the rows, as column-to-value dicts.
        """
        sql = f"SELECT {', '.join(entity.columns)} FROM {entity.logical_name} WHERE {where}"  # noqa: S608 - identifiers come from the table metadata; values are bound parameters
        if order_by:
            sql += f" ORDER BY {order_by}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self.reading() as conn:
            rows = conn.execute(sql, tuple(params)).fetchall()
        columns = entity.columns
        return [dict(zip(columns, row, strict=True)) for row in rows]

    def fetch_page(
        self,
        entity: EntityMeta,
        extra: Sequence[str],
        where: str,
        params: Sequence[Any],
        order_by: str,
        limit: int,
        columns: Sequence[str] | None = None,
        *,
        offset: int = 0,
        distinct: bool = False,
    ) -> list[tuple[Row, tuple[Any, ...]]]:
        """Select rows plus extra expressions (the sort keys of keyset paging).

        :param extra: SQL expressions evaluated for each row, returned beside it.
        :param columns: the columns to read (default: all); rows then hold only these.
        :param offset: rows to skip first (page-number paging; keyset paging passes 0).
        :param distinct: return each combination of ``columns`` and ``extra`` values once.
        :returns: ``(row, extra values)`` pairs.
        """
        columns = tuple(columns) if columns is not None else entity.columns
        selected = ", ".join((*columns, *extra))
        sql = (
            f"SELECT {'DISTINCT ' if distinct else ''}{selected} FROM {entity.logical_name} WHERE {where} "  # noqa: S608 - identifiers come from the table metadata; values are bound parameters
            f"ORDER BY {order_by} LIMIT {int(limit)} OFFSET {int(offset)}"
        )
        with self.reading() as conn:
            rows = conn.execute(sql, tuple(params)).fetchall()
        width = len(columns)
        return [(dict(zip(columns, row[:width], strict=True)), tuple(row[width:])) for row in rows]

    def fetch_by_id(self, entity: EntityMeta, record_id: str) -> Row | None:
        """:returns: the row with that primary key, or ``None``."""
        return self.fetch(entity, f"{entity.primary_id} = ?", (record_id.lower(),))

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """:returns: the first column of the first row of a query (``None`` when empty)."""
        with self.reading() as conn:
            row = conn.execute(sql, tuple(params)).fetchone()
        return None if row is None else row[0]

    def column(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """:returns: the first column of every row of a query."""
        with self.reading() as conn:
            return [row[0] for row in conn.execute(sql, tuple(params))]

    def insert(self, entity: EntityMeta, row: Row) -> None:
        """Insert a complete row (every column present, its version drawn in the transaction that inserts it).

        :raises DataverseError: 412 when the primary key or an alternate key is taken.
        """
        columns = tuple(row)
        sql = self._insert_sql.get((entity.logical_name, columns))
        if sql is None:
            sql = (
                f"INSERT INTO {entity.logical_name} ({', '.join(columns)}) "  # noqa: S608 - identifiers come from the table metadata; values are bound parameters
                f"VALUES ({', '.join('?' for _ in columns)})"
            )
            self._insert_sql[(entity.logical_name, columns)] = sql
        self._write(entity, sql, tuple(row.values()), row)

    def update(self, entity: EntityMeta, record_id: str, changes: Row) -> None:
        """Write changed columns of one row (``changes`` includes the new version and ``modifiedon``).

        :raises DataverseError: 412 when an alternate key's new values are taken.
        """
        assignments = ", ".join(f"{column} = ?" for column in changes)
        sql = f"UPDATE {entity.logical_name} SET {assignments} WHERE {entity.primary_id} = ?"  # noqa: S608 - identifiers come from the table metadata; values are bound parameters
        self._write(entity, sql, (*changes.values(), record_id), changes)

    def _write(self, entity: EntityMeta, sql: str, params: tuple[Any, ...], values: Row) -> None:
        """Run one write statement. A statement is atomic in SQLite (one that fails changes nothing), so within
        this thread's transaction it needs no savepoint of its own (a bulk action writes thousands of rows in one
        transaction); outside one it is a transaction.

        :raises DataverseError: 412 when a key is taken (:meth:`_integrity_error`, told ``values``).
        """
        try:
            if self.in_transaction:
                self._conn.execute(sql, params)
            else:
                with self.transaction() as conn:
                    conn.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            raise self._integrity_error(entity, exc, values) from exc

    def delete(self, entity: EntityMeta, record_id: str) -> None:
        """Delete one row and log the deletion for change tracking."""
        with self.transaction() as conn:
            conn.execute(f"DELETE FROM {entity.logical_name} WHERE {entity.primary_id} = ?", (record_id,))  # noqa: S608 - identifiers come from the table metadata; values are bound parameters
            conn.execute(
                "DELETE FROM sandbox_file_parts WHERE file_id IN "
                "(SELECT file_id FROM sandbox_files WHERE entity = ? AND record_id = ?)",
                (entity.logical_name, record_id),
            )
            conn.execute(
                "DELETE FROM sandbox_files WHERE entity = ? AND record_id = ?", (entity.logical_name, record_id)
            )
            conn.execute(
                "INSERT INTO sandbox_deleted (version, entity, id) VALUES (?, ?, ?)",
                (self.next_version(), entity.logical_name, record_id),
            )

    def delete_where(self, entity: EntityMeta, where: str, params: Sequence[Any]) -> None:
        """Delete the rows matching ``where`` without logging them (intersect tables keep no change log)."""
        with self.transaction() as conn:
            conn.execute(f"DELETE FROM {entity.logical_name} WHERE {where}", tuple(params))  # noqa: S608 - identifiers come from the table metadata; values are bound parameters

    def insert_many(self, entity: EntityMeta, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert many complete rows in one statement (the seeding path).

        :raises DataverseError: 412 when a key is taken; nothing is inserted then.
        """
        sql = (
            f"INSERT INTO {entity.logical_name} ({', '.join(columns)}) "  # noqa: S608 - identifiers come from the table metadata; values are bound parameters
            f"VALUES ({', '.join('?' for _ in columns)})"
        )
        with self.transaction() as conn:
            try:
                conn.executemany(sql, rows)
            except sqlite3.IntegrityError as exc:
                raise self._integrity_error(entity, exc, {}) from exc

    def deletions(self, entity: EntityMeta, after: int, upto: int, limit: int) -> list[tuple[int, str]]:
        """:returns: ``(version, id)`` of rows deleted with ``after < version <= upto``, oldest first."""
        with self.reading() as conn:
            return [
                (int(version), str(record_id))
                for version, record_id in conn.execute(
                    "SELECT version, id FROM sandbox_deleted WHERE entity = ? AND version > ? AND version <= ? "
                    "ORDER BY version LIMIT ?",
                    (entity.logical_name, after, upto, limit),
                )
            ]

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    @staticmethod
    def _integrity_error(entity: EntityMeta, exc: sqlite3.IntegrityError, row: Row) -> DataverseError:
        text = str(exc)
        for key in entity.alternate_keys:
            if text.endswith(", ".join(f"{entity.logical_name}.{column}" for column in key.attributes)):
                values = ", ".join(str(row.get(column)) for column in key.attributes)
                return duplicate_key(key.schema_name, f"{', '.join(key.attributes)} ({values})")
        logger.debug("integrity error on %s: %s", entity.logical_name, text)
        return duplicate_record()
