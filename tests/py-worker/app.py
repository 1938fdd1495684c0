"""Test guest (Python): a worker, built with the ``application`` world.

    POST /count/{name}   increments caller/{name} (the Rust test class) by RPC
    POST /later          answers at once; increments caller/later by 10 afterwards (wait_until)
    GET  /ip             the client's address (cf-connecting-ip) and the requests served
    GET  /fail           raises
"""

import holdfast
from holdfast import Response


@holdfast.worker
class Gateway(holdfast.Worker):
    def __init__(self, env):
        super().__init__(env)
        self.served = 0

    def fetch(self, request):
        self.served += 1
        seg = request.segments
        callers = self.env["caller"]
        if request.method == "POST" and len(seg) == 2 and seg[0] == "count":
            return Response.json({"value": callers.get_by_name(seg[1]).increment(1)})
        if request.method == "POST" and seg == ["later"]:
            self.wait_until(lambda: callers.get_by_name("later").increment(10))
            return Response.json({"deferred": True})
        if seg == ["ip"]:
            ip = request.header("cf-connecting-ip")
            return Response.json({"ip": ip, "served": self.served})
        if seg == ["fail"]:
            raise ValueError("the Python worker failed on purpose")
        return Response.not_found()
