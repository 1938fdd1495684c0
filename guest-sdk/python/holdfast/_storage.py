"""The object's durable key-value store. Values are stored as JSON, like the Rust and JS SDKs."""

from . import _values

from componentize_py_types import Err
from wit_world.imports import storage as _wit

from ._http import HoldfastError
from ._sql import Sql

_SQL = Sql()

__all__ = ["Storage", "StorageError", "Transaction"]


class StorageError(HoldfastError):
    """A refused storage call; nothing of it was written.

    ``kind`` is one of ``"key-too-large"``, ``"value-too-large"``, ``"too-many-keys"``,
    ``"invalid-argument"``; ``message`` names the limit.
    """

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind
        self.message = message

    def __str__(self):
        return self.message

    def __repr__(self):
        return f"StorageError({self.kind!r}, {self.message!r})"


def _call(function, *args):
    try:
        return function(*args)
    except Err as err:
        error = err.value
        raise StorageError(error.kind.name.lower().replace("_", "-"), error.message) from None


def _encode(value, key=None):
    what = "the value" if key is None else f"key {key!r}"
    return _values.dumps(value, what).encode()


def _decode(key, raw):
    try:
        return _values.loads(raw, f"the value stored under `{key}`")
    except ValueError as e:
        raise HoldfastError(f"the value stored under `{key}` is not JSON: {e}") from None


class Transaction:
    """A nested transaction, the context manager ``Storage.transaction()`` returns.

    Entering it opens the transaction (``StorageError`` with kind ``"invalid-argument"`` past
    64 deep) and gives the ``Storage``. Leaving the block normally commits it into the event;
    an exception escaping the block rolls back every write made in it (keys, ``delete_all``,
    the alarm) and propagates. WebSocket sends are not undone.
    """

    __slots__ = ("_storage",)

    def __init__(self, storage):
        self._storage = storage

    def __enter__(self):
        _call(_wit.transaction_begin)
        return self._storage

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            _call(_wit.transaction_commit)
        else:
            _call(_wit.transaction_rollback)
        return False  # never swallows the exception


class Storage:
    """Synchronous, strongly consistent storage of the running object.

    Every write of an event commits atomically with it, or not at all if the handler raises.
    ``with storage.transaction():`` undoes the block's writes alone if an exception escapes it.
    """

    __slots__ = ()

    @property
    def sql(self):
        """The object's SQLite database (SQLite-backed classes, the default): a ``Sql``."""
        return _SQL

    def get(self, key, default=None):
        """The value stored under ``key``, decoded from JSON, or ``default``."""
        raw = _call(_wit.get, key)
        return default if raw is None else _decode(key, raw)

    def get_many(self, keys):
        """``{key: value}`` for those of ``keys`` that exist, in the order of ``keys``."""
        keys = list(keys)
        values = _call(_wit.get_many, keys)
        return {k: _decode(k, raw) for k, raw in zip(keys, values) if raw is not None}

    def put(self, key, value):
        """Stores ``value`` (anything ``json.dumps`` accepts) under ``key``."""
        _call(_wit.put, key, _encode(value, key))

    def put_many(self, entries):
        """Stores every ``{key: value}`` entry; all or none."""
        items = entries.items() if hasattr(entries, "items") else entries
        _call(_wit.put_many, [(k, _encode(v, k)) for k, v in items])

    def delete(self, key):
        """Removes ``key``; ``True`` if it existed."""
        return _call(_wit.delete, key)

    def delete_many(self, keys):
        """Removes every key of ``keys``; returns how many existed."""
        return _call(_wit.delete_many, list(keys))

    def delete_all(self):
        """Removes every key of this object (the alarm is kept)."""
        _wit.delete_all()

    def list(self, start=None, start_after=None, end=None, prefix=None, reverse=False, limit=None):
        """``{key: value}`` in key order (or reverse order) within the bounds (a ``dict`` keeps it)."""
        options = _wit.ListOptions(
            start=start,
            start_after=start_after,
            end=end,
            prefix=prefix,
            reverse=bool(reverse),
            limit=limit,
        )
        return {k: _decode(k, raw) for k, raw in _call(_wit.list, options)}

    def transaction(self):
        """A nested transaction within the event, used as ``with storage.transaction():``.

        If an exception escapes the block, the block's writes (keys, ``delete_all``, the alarm)
        are rolled back and the exception propagates; otherwise they stay part of the event, whose
        own outcome still decides whether anything is kept. Blocks nest up to 64 deep.
        WebSocket sends are not undone.
        """
        return Transaction(self)

    def get_alarm(self):
        """The time the alarm is set for (ms since the Unix epoch), or ``None``."""
        return _wit.get_alarm()

    def set_alarm(self, scheduled_time):
        """Sets the alarm (ms since the Unix epoch; a ``datetime`` is accepted too)."""
        if hasattr(scheduled_time, "timestamp"):
            scheduled_time = round(scheduled_time.timestamp() * 1000)
        _wit.set_alarm(int(scheduled_time))

    def delete_alarm(self):
        """Removes the alarm, if any."""
        _wit.delete_alarm()

    # Point-in-time recovery (bookmarks compare in time order as strings). "Now" is the state
    # the object's earlier events left; restores take effect when the object next starts (after
    # a failed event, an eviction, a code update or a restart). Refusals raise StorageError with
    # kind "invalid-argument".

    def get_current_bookmark(self):
        """The bookmark of the state the object's earlier events left."""
        return _call(_wit.get_current_bookmark)

    def get_bookmark_for_time(self, time):
        """The bookmark of the object's state at ``time`` (ms since the Unix epoch, or a ``datetime``)."""
        if hasattr(time, "timestamp"):
            time = round(time.timestamp() * 1000)
        return _call(_wit.get_bookmark_for_time, int(time))

    def on_next_session_restore_bookmark(self, bookmark):
        """Restores the object to ``bookmark`` when it next starts; returns the undo bookmark."""
        return _call(_wit.on_next_session_restore_bookmark, str(bookmark))

    def snapshot(self):
        """A snapshot of the state the object's earlier events left (a string), for an object of
        the same class to become a copy of with ``on_next_session_restore``."""
        return _call(_wit.snapshot)

    def on_next_session_restore(self, snapshot):
        """Makes this object a copy of ``snapshot`` when it next starts; returns the undo bookmark."""
        return _call(_wit.on_next_session_restore, str(snapshot))
