"""Test guest (Python): a handler that writes and then raises, and a storage refusal.

    POST /write-then-raise?key=k   puts k, then raises ValueError("deliberate failure after writing k")
    GET  /get?key=k                {"value": <stored JSON or null>}
    POST /long-key                 puts a 2049-byte key: the StorageError is left uncaught
    GET  /bump                     {"count": n, "id": ...}: a counter in the object's memory
"""

import holdfast
from holdfast import DurableObject, Response


@holdfast.export
class Failer(DurableObject):
    def __init__(self, state):
        super().__init__(state)
        self.count = 0

    def fetch(self, request):
        storage = self.state.storage
        key = request.query("key")
        route = (request.method, tuple(request.segments))
        if route == ("POST", ("write-then-raise",)):
            storage.put(key, "written")
            raise ValueError(f"deliberate failure after writing {key}")
        if route == ("GET", ("get",)):
            return Response.json({"value": storage.get(key)})
        if route == ("GET", ("bump",)):
            self.count += 1
            return Response.json({"count": self.count, "id": self.state.id})
        if route == ("POST", ("long-key",)):
            storage.put("k" * 2049, 1)
            return Response.json({"ok": True})
        return Response.not_found()
