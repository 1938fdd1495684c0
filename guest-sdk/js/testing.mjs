// Test helpers for Holdfast classes, for Node's test runner (node:test) or vitest: start the
// real `holdfast` binary on a free loopback port with a temporary data directory and its own
// admin token, and drive its test controls. This module runs in Node, not in a guest.
//
//   import { test } from 'node:test';
//   import assert from 'node:assert/strict';
//   import { startHost } from '@holdfast/sdk/testing.mjs';
//
//   test('counts', async (t) => {
//     const host = await startHost({ config: 'wrangler.toml' });
//     t.after(() => host.stop());
//     const res = await host.fetch('/counter/alice/increment', { method: 'POST' });
//     assert.equal(res.status, 200);
//     assert.equal(await host.object('COUNTER', 'alice').get('value'), 1);
//   });
//
// The binary is `bin`, else HOLDFAST_BIN, else `holdfast` on PATH. Each host is its own process
// with its own storage, so tests running in parallel never see each other's objects.

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** A control the host refused, with its status and the host's message. */
export class ControlError extends Error {
  constructor(what, status, message) {
    super(`${what} failed (${status}): ${message}`);
    this.name = 'ControlError';
    this.status = status;
  }
}

const enc = encodeURIComponent;

/**
 * Starts a host serving `config` (a holdfast.toml or a wrangler project file) and resolves once
 * it listens. `build: true` runs every class's `build` command first (`holdfast build`).
 */
export async function startHost({ config, bin, build = false, env = {}, timeoutMs = 120_000 } = {}) {
  if (!config) throw new TypeError('startHost needs { config: "path/to/holdfast.toml" }');
  const binary = bin ?? process.env.HOLDFAST_BIN ?? 'holdfast';
  const childEnv = { ...process.env, ...env };
  if (build) {
    const r = spawnSync(binary, ['build', '--config', config], { env: childEnv, encoding: 'utf8' });
    if (r.error) throw new Error(`cannot start \`${binary}\` (set HOLDFAST_BIN to the holdfast binary): ${r.error.message}`);
    if (r.status !== 0) throw new Error(`building the classes failed:\n${r.stdout}${r.stderr}`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-test-'));
  const token = randomBytes(16).toString('hex');
  const logPath = join(dir, 'host.log');
  const child = spawn(
    binary,
    ['serve', '--config', config, '--listen', '127.0.0.1:0', '--data', join(dir, 'data')],
    { env: { ...childEnv, HOLDFAST_ADMIN_TOKEN: token }, stdio: ['ignore', 'pipe', openSync(logPath, 'w')] },
  );
  const addr = await new Promise((resolve, reject) => {
    const fail = (why) => {
      child.kill('SIGKILL');
      let log = '';
      try { log = readFileSync(logPath, 'utf8'); } catch { /* no log yet */ }
      reject(new Error(`the host did not start: ${why}\n${log}`));
    };
    const timer = setTimeout(() => fail(`it did not listen within ${timeoutMs} ms`), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot start \`${binary}\` (set HOLDFAST_BIN to the holdfast binary): ${e.message}`));
    });
    child.once('exit', (code, signal) => { clearTimeout(timer); fail(`it exited (${signal ?? code})`); });
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const m = /^holdfast listening on http:\/\/(\S+)$/.exec(line.trim());
      if (m) { clearTimeout(timer); child.removeAllListeners('exit'); resolve(m[1]); }
    });
  });
  return new Host(child, addr, token, dir, logPath);
}

/** A running host (see `startHost`). */
export class Host {
  constructor(child, addr, token, dir, logPath) {
    this.child = child;
    this.addr = addr;
    this.token = token;
    this.dir = dir;
    this.logPath = logPath;
  }

  /** `http://127.0.0.1:<port>` followed by `path`. */
  url(path = '/') { return `http://${this.addr}${path}`; }

  /** `fetch` against the host. */
  fetch(path, init) { return fetch(this.url(path), init); }

  /** What the host has logged so far. */
  log() { return readFileSync(this.logPath, 'utf8'); }

  async control(method, path, body, what) {
    const headers = { authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const r = await fetch(this.url(`/_/admin${path}`), {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const v = await r.json();
    if (r.status >= 400) throw new ControlError(what, r.status, v.error ?? '');
    return v;
  }

  /** The object of `binding` named `name`. */
  object(binding, name) { return new ObjectRef(this, binding, 'objects', name); }

  /** The object of `binding` with this hex ID. */
  objectById(binding, id) { return new ObjectRef(this, binding, 'ids', id); }

  /** Every object of `binding` with anything stored: `[{ id, name, live, kv_keys, alarm, ... }]`. */
  async objects(binding) {
    const out = [];
    let after = '';
    for (;;) {
      const v = await this.control('GET', `/namespaces/${enc(binding)}/objects?limit=1000&after=${after}`, undefined, 'listing objects');
      out.push(...v.objects);
      if (v.next === null) return out;
      after = v.next;
    }
  }

  /** Deletes everything every object stored (keys, SQL, alarms). */
  async reset() {
    const { namespaces } = await this.control('GET', '/namespaces', undefined, 'listing namespaces');
    for (const { binding } of namespaces) {
      for (const o of await this.objects(binding)) await this.objectById(binding, o.id).reset();
    }
  }

  /** Stops the host and removes its data. */
  async stop() {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGKILL');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One object of a host, by name or ID. Every change is an event in the object's mailbox. */
export class ObjectRef {
  constructor(host, binding, kind, object) {
    this.host = host;
    this.binding = binding;
    this.kind = kind;
    this.object = object;
  }

  path(rest) { return `/${this.kind}/${enc(this.binding)}/${enc(this.object)}${rest}`; }

  /** The URL of the object's own route `path` (served without a worker). */
  url(path = '/') {
    return this.kind === 'objects'
      ? this.host.url(`/${enc(this.binding)}/${enc(this.object)}${path}`)
      : this.host.url(`/_/id/${enc(this.binding)}/${this.object}${path}`);
  }

  /** The committed value of `key`, or undefined. */
  async get(key) {
    const v = await this.host.control('GET', this.path(`/keys?prefix=${enc(key)}&limit=1`), undefined, 'reading a key');
    const e = v.keys[0];
    return e && e.key === key ? e.value : undefined;
  }

  /** Every `[key, value]` with `prefix`, in key order. */
  async list(prefix = '') {
    const out = [];
    let after = '';
    for (;;) {
      const v = await this.host.control('GET', this.path(`/keys?prefix=${enc(prefix)}&after=${enc(after)}&limit=1000`), undefined, 'listing keys');
      for (const e of v.keys) out.push([e.key, e.value]);
      if (v.next === null) return out;
      after = v.next;
    }
  }

  /** Stores `value` under `key` (the object's instance restarts and reads it afresh). */
  async put(key, value) {
    await this.host.control('POST', this.path('/storage'), { put: { [key]: value } }, 'writing a key');
  }

  /** Deletes `key`; whether it existed. */
  async delete(key) {
    const v = await this.host.control('POST', this.path('/storage'), { delete: [key] }, 'deleting a key');
    return v.deleted === 1;
  }

  async alarm() { return (await this.host.control('GET', this.path('/alarm'), undefined, 'reading the alarm')).alarm; }

  async setAlarm(ms) { await this.host.control('PUT', this.path('/alarm'), { alarm: ms }, 'setting the alarm'); }

  /** Runs the object's alarm now; false if none was set. Resolves once its writes are durable. */
  async runAlarm() {
    try {
      return (await this.host.control('POST', this.path('/alarm/run'), {}, 'running the alarm')).ran === true;
    } catch (e) {
      if (e instanceof ControlError && e.status === 404) return false;
      throw e;
    }
  }

  /** Makes the object leave memory now; whether it did. */
  async evict() { return (await this.host.control('POST', this.path('/evict'), {}, 'evicting')).evicted; }

  /** Runs SQL on the object's database: `{ columns, rows, rows_read, rows_written }`. */
  sql(query, params = []) { return this.host.control('POST', this.path('/sql'), { query, params }, 'running SQL'); }

  /** Deletes everything the object stored. */
  async reset() { await this.host.control('POST', this.path('/reset'), {}, 'resetting'); }

  /** The object's recent log lines: `[{ time_ms, stream, text }]`. */
  async logs() {
    const q = this.kind === 'objects' ? `name=${enc(this.object)}` : `id=${this.object}`;
    return (await this.host.control('GET', `/logs?binding=${enc(this.binding)}&${q}`, undefined, 'reading logs')).lines;
  }
}

/** Cloudflare's `listDurableObjectIds`: the IDs of `binding`'s stored objects. */
export async function listDurableObjectIds(host, binding) {
  return (await host.objects(binding)).map((o) => o.id);
}

/** Cloudflare's `runDurableObjectAlarm`: runs the alarm of `binding`'s object `name` now. */
export function runDurableObjectAlarm(host, binding, name) {
  return host.object(binding, name).runAlarm();
}
