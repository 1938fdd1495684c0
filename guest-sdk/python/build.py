#!/usr/bin/env python3
"""Builds a Holdfast component from a Python app with componentize-py.

    python3 guest-sdk/python/build.py APP_DIR -o OUT.wasm [--module app]
        [--world durable-object|application] [--componentize-py PATH]

APP_DIR holds the app module (``app.py`` unless ``--module`` names another); the SDK
(``guest-sdk/python``) and the WIT (``wit/``) are found next to this script.
``--world application`` builds a component that also exports a worker.

componentize-py does not give the same bytes twice for the same inputs, and the host compiles
every new component again (10-15 s of CPU). So each build is kept in a build cache under the hash
of its inputs (the app's and the SDK's files, the WIT, componentize-py's version and the
options): ``py-builds/`` under Holdfast's cache directory (``$XDG_CACHE_HOME/holdfast``, else
``~/.cache/holdfast``), at most 32 builds, the least recently used removed first. Building the
same inputs again, on this machine, gives the same bytes. ``OUT.inputs`` records the inputs of
the last build of OUT: an unchanged app is not built again at all.
"""

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CACHE_ENTRIES = 32


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def files_under(directory):
    """Every file under `directory`, sorted, without bytecode caches."""
    out = []
    for path in sorted(Path(directory).rglob("*")):
        if "__pycache__" in path.parts or not path.is_file():
            continue
        out.append(path)
    return out


def inputs_hash(app, module, world, cpy):
    h = hashlib.sha256()
    version = subprocess.run([cpy, "--version"], capture_output=True, text=True, check=True)
    h.update(version.stdout.encode())
    h.update(f"{module}\0{world}\0".encode())
    for base, label in ((HERE / "holdfast", "sdk"), (app, "app"), (ROOT / "wit", "wit")):
        for path in files_under(base):
            h.update(f"{label}/{path.relative_to(base)}\0".encode())
            h.update(path.read_bytes())
            h.update(b"\0")
    return h.hexdigest()


def build_cache():
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "holdfast" / "py-builds"


def remember(cached, out):
    """Keeps the build `out` as `cached`, then trims the cache to its bound."""
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
        shutil.copyfile(out, tmp)
        os.replace(tmp, cached)
        entries = sorted(cached.parent.glob("*.wasm"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[CACHE_ENTRIES:]:
            old.unlink(missing_ok=True)
    except OSError as e:
        print(f"warning: cannot keep the build in the build cache: {e}", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description="Build a Holdfast component from a Python app.")
    parser.add_argument("app", help="the directory holding the app module")
    parser.add_argument("-o", "--out", required=True, help="the component to write")
    parser.add_argument("--module", default="app", help="the app module (default: app)")
    parser.add_argument("--world", default="durable-object", choices=["durable-object", "application"])
    parser.add_argument(
        "--componentize-py",
        default=os.environ.get("COMPONENTIZE_PY", str(ROOT / "target/pyenv/bin/componentize-py")),
        help="componentize-py to run (default: target/pyenv/bin/componentize-py)",
    )
    args = parser.parse_args()
    app = Path(args.app).resolve()
    if not (app / f"{args.module}.py").is_file():
        fail(f"no module {args.module}.py in {args.app}")
    cpy = args.componentize_py
    if not os.access(cpy, os.X_OK):
        fail(
            f"componentize-py not found at {cpy}; install it with: python3 -m venv target/pyenv && "
            "target/pyenv/bin/pip install componentize-py==0.25.1"
        )
    out = Path(args.out).resolve()
    recorded = out.with_name(out.name + ".inputs")
    inputs = inputs_hash(app, args.module, args.world, cpy)
    if out.is_file() and recorded.is_file() and recorded.read_text() == inputs:
        print(f"{out} is up to date", file=sys.stderr)
        return
    cached = build_cache() / f"{inputs}.wasm"
    out.parent.mkdir(parents=True, exist_ok=True)
    if cached.is_file():
        shutil.copyfile(cached, out)
        os.utime(cached)
        recorded.write_text(inputs)
        print(f"{out}: the build of these inputs from the build cache ({cached})", file=sys.stderr)
        return
    # No __pycache__ in the source tree; no Rust backtrace of componentize-py under the error.
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", RUST_BACKTRACE="0")
    run = subprocess.run(
        # The shared-* worlds add the `hosting` export: one instance may host many objects.
        [cpy, "-d", str(ROOT / "wit"), "-w", f"shared-{'object' if args.world == 'durable-object' else 'application'}", "componentize",
         "-p", str(HERE), "-p", str(app), args.module, "-o", str(out)],
        env=env,
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        out.unlink(missing_ok=True)
        sys.stderr.write(run.stderr)
        fail(f"componentize-py failed (exit status {run.returncode})")
    recorded.write_text(inputs)
    remember(cached, out)
    print(f"built {out} ({out.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)


if __name__ == "__main__":
    main()
