"""Test guest (Python): alarms, WebSockets and nested transactions through the Python SDK.

    GET  /get?key=k                  {"value": <stored JSON or null>}
    GET  /all                        {"entries": {key: value, ...}}
    POST /alarm?at=ms[&fail=n]       sets the alarm (and `alarm_fail` = n): {"alarm": ms}
    GET  /alarm                      {"alarm": ms or null}
    POST /ops                        runs the JSON list of ops in the body (below): {"results": [...]}
    GET  /ws?name=n[&tags=a,b]       accepts the WebSocket with the tags, attachment {"name": n}
    GET  /sockets[?tag=t]            {"sockets": [{"tags": [...], "attachment": ...}, ...]}

Ops (one key each): {"put": [k, v]}, {"get": k}, {"delete": k}, {"delete_all": null},
{"alarm": ms}, {"get_alarm": null}, {"raise": message}, {"tx": [ops]} (a `with
storage.transaction()` block), {"catch": [ops]} (records {"caught": message, "kind": ...} for an
exception escaping them), {"nest": n} (n nested blocks, block i putting `depth{i}`),
{"bookmark": null}, {"bookmark_at": ms}, {"restore_to": bookmark}, {"snapshot": null},
{"restore_snapshot": snapshot} (point-in-time recovery). `get`, `get_alarm`, `catch` and the
point-in-time recovery ops append to the results.

`alarm(info)` counts deliveries in `alarms_seen`, records `last_alarm`, and raises while the
retry count is below `alarm_fail`. WebSocket messages are JSON commands (see `websocket_message`);
a binary message comes back reversed. A close is recorded under `closed/{name}`.
"""

import json

import holdfast
from holdfast import DurableObject, Response, StorageError


class Deliberate(Exception):
    pass


def run(storage, ops, results):
    for op in ops:
        (name, arg), = op.items()
        if name == "put":
            storage.put(arg[0], arg[1])
        elif name == "get":
            results.append(storage.get(arg))
        elif name == "delete":
            storage.delete(arg)
        elif name == "delete_all":
            storage.delete_all()
        elif name == "alarm":
            storage.set_alarm(arg)
        elif name == "get_alarm":
            results.append(storage.get_alarm())
        elif name == "raise":
            raise Deliberate(arg)
        elif name == "tx":
            with storage.transaction() as tx:
                run(tx, arg, results)
        elif name == "catch":
            try:
                run(storage, arg, results)
            except (Deliberate, StorageError) as e:
                results.append({"caught": str(e), "kind": getattr(e, "kind", None)})
        elif name == "nest":
            nest(storage, arg, 1)
        elif name == "bookmark":
            results.append(storage.get_current_bookmark())
        elif name == "bookmark_at":
            results.append(storage.get_bookmark_for_time(arg))
        elif name == "restore_to":
            results.append(storage.on_next_session_restore_bookmark(arg))
        elif name == "snapshot":
            results.append(storage.snapshot())
        elif name == "restore_snapshot":
            results.append(storage.on_next_session_restore(arg))
        else:
            raise ValueError(f"unknown op {name}")


def nest(storage, depth, level):
    if level <= depth:
        with storage.transaction() as tx:
            tx.put(f"depth{level}", level)
            nest(tx, depth, level + 1)


@holdfast.export
class Events(DurableObject):
    def fetch(self, request):
        storage = self.state.storage
        route = (request.method, tuple(request.segments))
        if route == ("GET", ("get",)):
            return Response.json({"value": storage.get(request.query("key"))})
        if route == ("GET", ("all",)):
            return Response.json({"entries": storage.list()})
        if route == ("GET", ("whoami",)):
            # `self.storage` is `self.state.storage`.
            return Response.json(
                {
                    "name": self.state.name,
                    "namespaces": self.state.objects.namespaces(),
                    "same_storage": self.storage is self.state.storage,
                }
            )
        if route == ("POST", ("alarm",)):
            if request.query("fail") is not None:
                storage.put("alarm_fail", int(request.query("fail")))
            storage.set_alarm(int(request.query("at")))
            return Response.json({"alarm": storage.get_alarm()})
        if route == ("GET", ("alarm",)):
            return Response.json({"alarm": storage.get_alarm()})
        if route == ("POST", ("ops",)):
            results = []
            run(storage, request.json(), results)
            return Response.json({"results": results})
        if route == ("GET", ("ws",)):
            if not request.is_websocket_upgrade:
                return Response.error(400, "expected a WebSocket upgrade")
            tags = [t for t in (request.query("tags") or "").split(",") if t]
            ws = self.state.accept_websocket(tags)
            ws.attachment = {"name": request.query("name")}
            return Response.websocket_upgrade()
        if route == ("GET", ("sockets",)):
            sockets = self.state.get_websockets(request.query("tag"))
            return Response.json(
                {"sockets": [{"tags": ws.tags, "attachment": ws.attachment} for ws in sockets]}
            )
        return Response.not_found()

    def alarm(self, info):
        storage = self.state.storage
        storage.put("alarms_seen", storage.get("alarms_seen", 0) + 1)
        storage.put(
            "last_alarm",
            {
                "scheduled_time": info.scheduled_time,
                "retry_count": info.retry_count,
                "is_retry": info.is_retry,
            },
        )
        if info.retry_count < storage.get("alarm_fail", 0):
            raise RuntimeError(f"deliberate alarm failure at retry {info.retry_count}")

    def websocket_message(self, ws, message):
        """Commands: {"echo": x} answers the sender alone with x, its name and tags;
        {"broadcast": text, "tag": t or absent} sends {"from": name, "text": text} to every
        socket (with tag t); {"attach": {...}} merges into the attachment and answers it;
        {"send_then_raise": text} sends, writes `lost`, then raises (nothing is sent or kept);
        {"close": code, "reason": r} closes the sender's socket."""
        storage = self.state.storage
        storage.put("messages", storage.get("messages", 0) + 1)
        if isinstance(message, bytes):
            ws.send(message[::-1])
            return
        command = json.loads(message)
        name = ws.attachment["name"]
        if "echo" in command:
            ws.send_json({"echo": command["echo"], "name": name, "tags": ws.tags})
        elif "broadcast" in command:
            for other in self.state.get_websockets(command.get("tag")):
                other.send_json({"from": name, "text": command["broadcast"]})
        elif "attach" in command:
            ws.attachment = {**ws.attachment, **command["attach"]}
            ws.send_json({"attachment": ws.attachment})
        elif "send_then_raise" in command:
            ws.send(command["send_then_raise"])
            storage.put("lost", True)
            raise Deliberate("deliberate failure after sending")
        elif "close" in command:
            ws.close(command["close"], command.get("reason", ""))
        else:
            raise ValueError(f"unknown command {message}")

    def websocket_close(self, ws, code, reason, was_clean):
        attachment = ws.attachment or {}
        self.state.storage.put(
            f"closed/{attachment.get('name')}",
            {
                "code": code,
                "reason": reason,
                "was_clean": was_clean,
                "attachment": attachment,
                "tags": ws.tags,
            },
        )

    def websocket_error(self, ws, error):
        attachment = ws.attachment or {}
        self.state.storage.put(f"error/{attachment.get('name')}", error)
