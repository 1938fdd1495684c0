"""Test helpers for Holdfast classes, for unittest or pytest: start the real ``holdfast`` binary
on a free loopback port with a temporary data directory and its own admin token, and drive its
test controls. This module runs in CPython, not in a guest.

    with start_host("holdfast.toml", build=True) as host:
        status, body = host.request("POST", "/counter/alice/increment")
        host.object("counter", "alice").put("value", 41)

The binary is ``bin``, else HOLDFAST_BIN, else ``holdfast`` on PATH. Each host is its own
process with its own storage.
"""

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request


class ControlError(Exception):
    """A control the host refused: its status and the host's message."""

    def __init__(self, what, status, message):
        super().__init__(f"{what} failed ({status}): {message}")
        self.status = status


def _q(s):
    return urllib.parse.quote(s, safe="")


def start_host(config, bin=None, build=False, env=None, timeout=120):
    """Starts a host serving ``config`` and returns it once it listens (a context manager that
    stops it). ``build=True`` runs every class's build command first (``holdfast build``)."""
    binary = bin or os.environ.get("HOLDFAST_BIN") or "holdfast"
    child_env = {**os.environ, **(env or {})}
    if build:
        try:
            r = subprocess.run([binary, "build", "--config", config], env=child_env,
                               capture_output=True, text=True)
        except OSError as e:
            raise RuntimeError(f"cannot start `{binary}` (set HOLDFAST_BIN to the holdfast binary): {e}")
        if r.returncode != 0:
            raise RuntimeError(f"building the classes failed:\n{r.stdout}{r.stderr}")
    directory = tempfile.mkdtemp(prefix="holdfast-test-")
    token = secrets.token_hex(16)
    log = open(os.path.join(directory, "host.log"), "w")
    try:
        child = subprocess.Popen(
            [binary, "serve", "--config", config, "--listen", "127.0.0.1:0",
             "--data", os.path.join(directory, "data")],
            env={**child_env, "HOLDFAST_ADMIN_TOKEN": token},
            stdout=subprocess.PIPE, stderr=log, text=True)
    except OSError as e:
        raise RuntimeError(f"cannot start `{binary}` (set HOLDFAST_BIN to the holdfast binary): {e}")
    found = []
    ready = threading.Event()

    def read():
        for line in child.stdout:
            if not found and line.startswith("holdfast listening on http://"):
                found.append(line.strip().removeprefix("holdfast listening on http://"))
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(timeout) or not found:
        child.kill()
        child.wait()
        with open(os.path.join(directory, "host.log")) as f:
            raise RuntimeError(f"the host did not start: {f.read()}")
    return Host(child, found[0], token, directory)


class Host:
    """A running host (see ``start_host``)."""

    def __init__(self, child, addr, token, directory):
        self.child, self.addr, self.token, self.directory = child, addr, token, directory

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def url(self, path="/"):
        return f"http://{self.addr}{path}"

    def request(self, method, path, body=None, headers=None):
        """One request to the host: ``(status, parsed JSON or text)``."""
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(self.url(path), data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    def control(self, method, path, body, what):
        headers = {"authorization": f"Bearer {self.token}"}
        if body is not None:
            headers["content-type"] = "application/json"
        status, v = self.request(method, f"/_/admin{path}", body, headers)
        if status >= 400:
            raise ControlError(what, status, v.get("error", "") if isinstance(v, dict) else v)
        return v

    def object(self, binding, name):
        """The object of ``binding`` named ``name``."""
        return ObjectRef(self, binding, "objects", name)

    def objects(self, binding):
        """Every object of ``binding`` with anything stored."""
        out, after = [], ""
        while True:
            v = self.control("GET", f"/namespaces/{_q(binding)}/objects?limit=1000&after={after}",
                             None, "listing objects")
            out += v["objects"]
            if v["next"] is None:
                return out
            after = v["next"]

    def stop(self):
        if self.child.poll() is None:
            self.child.kill()
            self.child.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


class ObjectRef:
    """One object of a host. Every change is an event in the object's mailbox."""

    def __init__(self, host, binding, kind, obj):
        self.host, self.binding, self.kind, self.obj = host, binding, kind, obj

    def _path(self, rest):
        return f"/{self.kind}/{_q(self.binding)}/{_q(self.obj)}{rest}"

    def get(self, key):
        """The committed value of ``key``, or None."""
        v = self.host.control("GET", self._path(f"/keys?prefix={_q(key)}&limit=1"), None, "reading a key")
        keys = v["keys"]
        return keys[0]["value"] if keys and keys[0]["key"] == key else None

    def put(self, key, value):
        self.host.control("POST", self._path("/storage"), {"put": {key: value}}, "writing a key")

    def delete(self, key):
        return self.host.control("POST", self._path("/storage"), {"delete": [key]}, "deleting a key")["deleted"] == 1

    def alarm(self):
        return self.host.control("GET", self._path("/alarm"), None, "reading the alarm")["alarm"]

    def set_alarm(self, ms):
        self.host.control("PUT", self._path("/alarm"), {"alarm": ms}, "setting the alarm")

    def run_alarm(self):
        """Runs the object's alarm now; False if none was set."""
        try:
            return self.host.control("POST", self._path("/alarm/run"), {}, "running the alarm")["ran"] is True
        except ControlError as e:
            if e.status == 404:
                return False
            raise

    def evict(self):
        return self.host.control("POST", self._path("/evict"), {}, "evicting")["evicted"]

    def sql(self, query, params=()):
        return self.host.control("POST", self._path("/sql"), {"query": query, "params": list(params)}, "running SQL")

    def reset(self):
        self.host.control("POST", self._path("/reset"), {}, "resetting")

    def logs(self):
        return self.host.control("GET", f"/logs?binding={_q(self.binding)}&name={_q(self.obj)}", None,
                                 "reading logs")["lines"]
