"""Holdfast Durable Objects in Python (built with componentize-py).

    import holdfast
    from holdfast import DurableObject, Response

    @holdfast.export
    class Counter(DurableObject):
        def fetch(self, request):
            value = self.state.storage.get("value", 0) + 1
            self.state.storage.put("value", value)
            return Response.json({"value": value})
"""

from ._calls import CallError, Env, Namespace, Stub
from ._http import HoldfastError, Request, Response
from ._sql import Cursor, Sql, SqlError
from ._storage import Storage, StorageError, Transaction
from ._state import Objects, State, WebSocket
from ._export import AlarmInfo, DurableObject, Handler, export
from ._fetch import FetchError, fetch
from ._values import RegExp, StoredError
from ._worker import Worker, worker

__all__ = [
    "AlarmInfo",
    "CallError",
    "Cursor",
    "DurableObject",
    "Env",
    "FetchError",
    "Handler",
    "HoldfastError",
    "Namespace",
    "Objects",
    "RegExp",
    "Request",
    "Response",
    "Sql",
    "SqlError",
    "State",
    "Storage",
    "StorageError",
    "StoredError",
    "Stub",
    "Transaction",
    "WebSocket",
    "Worker",
    "export",
    "fetch",
    "worker",
]
__version__ = "0.1.0"

# Show the public names as `holdfast.X` (in tracebacks and reprs), not `holdfast._module.X`.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = __name__
del _name, _obj
