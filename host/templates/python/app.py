"""A durable counter per name. ``holdfast dev`` serves each object under ``/counter/{name}``:

    GET  /counter/{name}             {"value": n}
    POST /counter/{name}/increment   {"value": n}, the new value
"""

import holdfast
from holdfast import DurableObject, Response


@holdfast.export
class Counter(DurableObject):
    def fetch(self, request):
        storage = self.state.storage
        value = storage.get("value", 0)
        route = (request.method, tuple(request.segments))
        if route == ("GET", ()):
            return Response.json({"value": value})
        if route == ("POST", ("increment",)):
            # Durable before the response leaves: the event is one transaction.
            storage.put("value", value + 1)
            return Response.json({"value": value + 1})
        return Response.json({"error": "not found"}, status=404)
