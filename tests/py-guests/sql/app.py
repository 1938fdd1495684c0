"""Test guest (Python) for SQL storage (``self.state.storage.sql``).

    POST /exec   {"query", "bindings"}: {"columns", "rows" (tuples), "dicts", "rows_read",
                 "rows_written"}, or 400 {"error": {"kind", "message"}}; a binding
                 {"bytes": [...]} is passed as bytes
    POST /tour   the cursor API end to end, and a rolled-back transaction
    POST /fail   inserts a row, then raises
"""

import holdfast
from holdfast import DurableObject, Response, SqlError


def _arg(b):
    if isinstance(b, dict) and "bytes" in b:
        return bytes(b["bytes"])
    return b


def _out(v):
    if isinstance(v, bytes):
        return {"bytes": list(v)}
    return v


@holdfast.export
class PySql(DurableObject):
    def __init__(self, state):
        super().__init__(state)
        self.sql = state.storage.sql
        self.sql.exec("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, name TEXT)")

    def fetch(self, request):
        route = (request.method, tuple(request.segments))
        if route == ("POST", ("exec",)):
            body = request.json()
            try:
                cursor = self.sql.exec(body["query"], *[_arg(b) for b in body.get("bindings", [])])
                columns = cursor.column_names
                rows = [[_out(v) for v in row] for row in cursor.raw()]
                return Response.json({
                    "columns": columns,
                    "rows": rows,
                    "dicts": [dict(zip(columns, r)) for r in rows],
                    "rows_read": cursor.rows_read,
                    "rows_written": cursor.rows_written,
                })
            except SqlError as e:
                return Response.json({"error": {"kind": e.kind, "message": e.message}}, status=400)
        if route == ("POST", ("tour",)):
            return Response.json(self.tour())
        if route == ("POST", ("fail",)):
            self.sql.exec("INSERT INTO t(name) VALUES ('lost')")
            raise ValueError("deliberate failure after inserting")
        return Response.not_found()

    def tour(self):
        sql = self.sql
        storage = self.state.storage
        seen = {}
        sql.exec("DELETE FROM t")
        c = sql.exec("INSERT INTO t VALUES (?, ?), (?, ?) RETURNING id", 1, "ada", 2, "grace")
        seen["returning"] = c.to_list()
        seen["rows_written"] = c.rows_written
        seen["dicts"] = list(sql.exec("SELECT id, name FROM t ORDER BY id"))
        seen["tuples"] = [list(r) for r in sql.exec("SELECT id, name FROM t ORDER BY id").raw()]
        seen["one"] = sql.exec("SELECT count(*) AS n FROM t").one()
        seen["blob"] = list(sql.exec("SELECT ? AS b", b"\x00\xff").one()["b"])
        seen["database_size"] = sql.database_size
        try:
            with storage.transaction():
                sql.exec("INSERT INTO t VALUES (3, 'linus')")
                storage.put("inside", 1)
                raise RuntimeError("undo")
        except RuntimeError:
            pass
        seen["after_rollback"] = {
            "rows": sql.exec("SELECT count(*) AS n FROM t").one()["n"],
            "inside": storage.get("inside"),
        }
        errors = {}
        for name, query, args in [
            ("begin", "BEGIN", ()),
            ("syntax", "SELEC 1", ()),
            ("bindings", "SELECT ?, ?", (1,)),
        ]:
            try:
                sql.exec(query, *args)
                errors[name] = None
            except SqlError as e:
                errors[name] = {"kind": e.kind, "message": e.message}
        try:
            sql.exec("SELECT ?", True)
        except TypeError as e:
            errors["bool"] = str(e)
        seen["errors"] = errors
        return seen
