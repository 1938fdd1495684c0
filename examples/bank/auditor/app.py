"""The bank's auditor, in Python: it reads Rust accounts by RPC.

``audit(names)`` asks each account (the Rust class behind the ``accounts`` binding) for its
balance and returns ``{"accounts": {name: balance}, "total": cents, "audits": n}``; the count of
audits is the auditor's own durable state.
"""

import holdfast
from holdfast import DurableObject, Response


@holdfast.export
class Auditor(DurableObject):
    def audit(self, names):
        accounts = self.env["accounts"]
        balances = {name: accounts.get_by_name(name).balance() for name in names}
        audits = self.state.storage.get("audits", 0) + 1
        self.state.storage.put("audits", audits)
        return {"accounts": balances, "total": sum(balances.values()), "audits": audits}

    def fetch(self, request):
        return Response.json({"audits": self.state.storage.get("audits", 0)})
