"""Workers in Python: the stateless entry point that receives every request outside ``/_/``.

    import holdfast
    from holdfast import Response

    @holdfast.worker
    class Gateway(holdfast.Worker):
        def fetch(self, request):
            value = self.env["counter"].get_by_name(request.segments[0]).increment(1)
            return Response.json({"value": value})

Build the module with componentize-py's ``-w application`` world (the host runs its worker
export; a module may also ``@holdfast.export`` a class). One instance serves many requests, one
at a time; nothing in it is durable.
"""

import sys
import traceback

from componentize_py_types import Err
from wit_world.imports import types as _types

from ._calls import Env
from ._http import HoldfastError, Request, Response

__all__ = ["Worker", "worker"]

_class = None
_instance = None
#: ``wit_world.imports.worker_context``, imported by ``worker()`` (it exists only in the
#: ``application`` world's bindings, so not at the top).
_context = None


class Worker:
    """Base class of a worker. ``self.env`` holds the bindings and vars, as in an object."""

    def __init__(self, env):
        self.env = env
        self._deferred = []

    def fetch(self, request):
        raise HoldfastError(f"{type(self).__name__} does not implement fetch")

    def wait_until(self, work):
        """Runs the callable ``work`` after the response is sent (Cloudflare's
        ``ctx.waitUntil``), before this instance's next request. Its exception is logged."""
        if not callable(work):
            raise TypeError("wait_until takes a callable")
        if not self._deferred:
            # The host calls wait_until after the response only for requests that deferred.
            _context.defer()
        self._deferred.append(work)


def _worker():
    global _instance
    if _instance is None:
        _instance = _class(Env())
    return _instance


def _handlers():
    from wit_world.exports import WorkerHandler as _WitWorkerHandler

    class WorkerHandler(_WitWorkerHandler):
        """The implementation componentize-py exports as the WIT ``worker-handler``."""

        def fetch(self, req):
            try:
                response = _worker().fetch(Request(req.method, req.url, req.headers, req.body))
            except Exception as e:  # noqa: BLE001 - every failure must reach the host as `err`
                traceback.print_exc(file=sys.stderr)
                raise Err(str(e) or type(e).__name__) from None
            if not isinstance(response, Response):
                raise Err(f"fetch must return a holdfast.Response, not {type(response).__name__}")
            return _types.Response(response.status, list(response.headers), response.body)

        def wait_until(self):
            w = _worker()
            work, w._deferred = w._deferred, []
            failed = []
            for job in work:
                try:
                    job()
                except Exception as e:  # noqa: BLE001 - logged, as Cloudflare logs them
                    traceback.print_exc(file=sys.stderr)
                    failed.append(str(e) or type(e).__name__)
            if failed:
                raise Err(f"{len(failed)} of {len(work)} wait_until jobs failed; the first: {failed[0]}")

    return WorkerHandler


def worker(cls):
    """Makes ``cls`` (a ``Worker`` subclass) this component's worker. Usable as a decorator; it
    sets ``WorkerHandler`` (and, if the module serves no class, a ``Handler`` that refuses) in
    ``cls``'s module, the names componentize-py looks up for the exports."""
    global _class, _instance, _context
    if not (isinstance(cls, type) and issubclass(cls, Worker)):
        raise TypeError("holdfast.worker expects a subclass of holdfast.Worker")
    from wit_world.imports import worker_context

    _class, _instance, _context = cls, None, worker_context
    module = sys.modules.get(cls.__module__)
    if module is not None:
        module.WorkerHandler = _handlers()
        if not hasattr(module, "Handler"):
            from ._export import Handler, Hosting

            module.Handler = Handler
            module.Hosting = Hosting
    return cls
