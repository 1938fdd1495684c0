"""The object's SQLite database: ``self.state.storage.sql``."""

from componentize_py_types import Err
from wit_world.imports import sql as _wit

from ._http import HoldfastError

__all__ = ["Cursor", "Sql", "SqlError"]


class SqlError(HoldfastError):
    """A SQL call that failed; nothing of it was kept.

    ``kind`` is one of ``"sqlite"`` (SQLite's own error: the message ends in its code, e.g.
    ``SQLITE_CONSTRAINT``), ``"not-allowed"``, ``"too-large"``, ``"full"``, ``"not-sqlite"``,
    ``"invalid-argument"``.
    """

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind
        self.message = message

    def __str__(self):
        return self.message

    def __repr__(self):
        return f"SqlError({self.kind!r}, {self.message!r})"


def _call(function, *args):
    try:
        return function(*args)
    except Err as err:
        error = err.value
        raise SqlError(error.kind.name.lower().replace("_", "-"), error.message) from None


_MIN = -(2**63)
_MAX = 2**63 - 1


def _binding(value, index):
    if value is None:
        return _wit.Value_Null()
    if isinstance(value, bool):
        raise TypeError(f"binding {index + 1} is a bool: SQL takes 1 or 0")
    if isinstance(value, int):
        if not _MIN <= value <= _MAX:
            raise OverflowError(f"binding {index + 1}: {value} does not fit SQLite's 64-bit integers")
        return _wit.Value_Integer(value)
    if isinstance(value, float):
        return _wit.Value_Real(value)
    if isinstance(value, str):
        return _wit.Value_Text(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _wit.Value_Blob(bytes(value))
    raise TypeError(
        f"binding {index + 1} is {type(value).__name__}: SQL bindings are str, int, float, bytes or None"
    )


def _column(value):
    if isinstance(value, _wit.Value_Null):
        return None
    return value.value


class Cursor:
    """The rows of a query's last statement: iterate for dicts (column → value), or ``raw()``
    for tuples. The statements have run when ``exec`` returns."""

    __slots__ = ("_columns", "_rows", "_next", "rows_read", "rows_written")

    def __init__(self, rows):
        self._columns = list(rows.columns)
        self._rows = rows.rows
        self._next = 0
        self.rows_read = rows.rows_read
        self.rows_written = rows.rows_written

    @property
    def column_names(self):
        return list(self._columns)

    def _take(self):
        if self._next >= len(self._rows):
            return None
        row = self._rows[self._next]
        self._next += 1
        return row

    def __iter__(self):
        return self

    def __next__(self):
        row = self._take()
        if row is None:
            raise StopIteration
        return dict(zip(self._columns, map(_column, row)))

    def to_list(self):
        """Every remaining row, as dicts."""
        return list(self)

    def one(self):
        """The only row; ``SqlError`` unless exactly one remains."""
        rest = len(self._rows) - self._next
        if rest != 1:
            got = "no results" if rest == 0 else "multiple results"
            raise SqlError("invalid-argument", f"expected exactly one result from the SQL query, but got {got}")
        return next(self)

    def raw(self):
        """The remaining rows as tuples, sharing this cursor's position."""
        while True:
            row = self._take()
            if row is None:
                return
            yield tuple(map(_column, row))


class Sql:
    """SQLite, synchronous, in the running event's transaction with its key-value writes: they
    commit together, or are all discarded when the handler raises. ``storage.transaction()``
    blocks are savepoints that undo SQL and keys together."""

    __slots__ = ()

    def exec(self, query, *bindings):
        """Runs ``query`` (one statement, or several separated by ``;``, all or nothing) with
        ``bindings`` for the ``?`` parameters of the last; returns a ``Cursor``."""
        if not isinstance(query, str):
            raise TypeError("exec() takes the SQL query as a str")
        params = [_binding(v, i) for i, v in enumerate(bindings)]
        return Cursor(_call(_wit.exec, query, params))

    @property
    def database_size(self):
        """Bytes of the object's database, this event's writes included."""
        return _call(_wit.database_size)
