"""Runs the class on the real host (``holdfast`` on PATH, or HOLDFAST_BIN) with a fresh data
directory: ``python3 -m unittest``."""

import sys
import unittest

sys.path.insert(0, "__HOLDFAST__/guest-sdk/python")
from holdfast_testing import start_host  # noqa: E402  (the helper lives in the SDK checkout)


class CounterTest(unittest.TestCase):
    def test_a_counter_counts_durably(self):
        with start_host("holdfast.toml", build=True) as host:
            self.assertEqual(host.request("POST", "/counter/alice/increment"), (200, {"value": 1}))
            # The test controls read and write the object's storage, as events in its mailbox.
            alice = host.object("counter", "alice")
            self.assertEqual(alice.get("value"), 1)
            alice.put("value", 41)
            self.assertEqual(host.request("POST", "/counter/alice/increment"), (200, {"value": 42}))


if __name__ == "__main__":
    unittest.main()
