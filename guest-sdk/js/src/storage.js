// `ctx.storage`: Cloudflare's Durable Object Storage API over Holdfast's synchronous storage
// imports. The async methods resolve at once; `kv` is the synchronous form. Every write belongs
// to the running event and commits with it (or is discarded when it fails).

import * as wit from 'holdfast:object/storage@0.1.0';
import { decodeJson, jsonText, parseJson, textOf, utf8 } from './json.js';
import { SqlStorage } from './sql.js';

const sqlStorage = new SqlStorage();

/** A storage call the host refused (a limit, an invalid argument). */
export class StorageError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = 'StorageError';
    /** 'key-too-large' | 'value-too-large' | 'too-many-keys' | 'invalid-argument' */
    this.kind = kind;
  }
}

/** Calls a storage import, turning a refused call into a StorageError. */
export function host(call) {
  try {
    return call();
  } catch (e) {
    if (e && e.payload && typeof e.payload.message === 'string') {
      throw new StorageError(e.payload.kind, e.payload.message);
    }
    throw e;
  }
}

function checkKey(key) {
  if (typeof key !== 'string') {
    throw new TypeError(`storage keys are strings, got ${typeof key}`);
  }
  return key;
}

function checkKeys(keys) {
  return keys.map(checkKey);
}

function listOptions(options = {}) {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('list() options must be an object');
  }
  const text = (name) => {
    const v = options[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw new TypeError(`list() option ${name} must be a string`);
    return v;
  };
  let limit;
  if (options.limit !== undefined && options.limit !== null) {
    if (!Number.isInteger(options.limit) || options.limit < 1 || options.limit > 0xffffffff) {
      throw new TypeError(`list() option limit must be a positive integer, got ${options.limit}`);
    }
    limit = options.limit;
  }
  return {
    start: text('start'),
    startAfter: text('startAfter'),
    end: text('end'),
    prefix: text('prefix'),
    reverse: Boolean(options.reverse),
    limit,
  };
}

function alarmTime(time, call = 'setAlarm()') {
  const ms = time instanceof Date ? time.getTime() : time;
  if (typeof ms !== 'number' || !Number.isFinite(ms)) {
    throw new TypeError(`${call} takes a Date or milliseconds since the epoch, got ${time}`);
  }
  return Math.trunc(ms);
}

// What this activation knows of its keys: key → JSON text, or null for a key known to be absent.
// It saves a host call per repeated read, and stays true because the object is the only writer of
// its keys and its events run one at a time. Whenever the host may discard writes it reflects (a
// failed event, a rolled-back transaction) or many keys change at once (deleteAll), it is cleared.
// One map per object: an instance hosting many objects switches to the running one's (`useKnown`).
let known = new Map();

/** Makes `map` what the running object knows of its keys (hosting.js, as an event starts). */
export function useKnown(map) {
  known = map;
}

/** Forgets what the activation knows of its keys (the next reads ask the host). */
export function forgetKnown() {
  known.clear();
}

const valueOf = (key) => `the value under key "${key}"`;

function parseKnown(key, text) {
  return text === null ? undefined : parseJson(text, valueOf(key));
}

// The synchronous operations shared by `kv`, the async API and transactions.
const ops = {
  get(key) {
    checkKey(key);
    let text = known.get(key);
    if (text === undefined) {
      const bytes = host(() => wit.get(key));
      text = bytes === undefined ? null : textOf(bytes, valueOf(key));
      known.set(key, text);
    }
    return parseKnown(key, text);
  },
  getMany(keys) {
    checkKeys(keys);
    const missing = keys.filter((key) => !known.has(key));
    if (missing.length > 0) {
      const values = host(() => wit.getMany(missing));
      missing.forEach((key, i) => {
        known.set(key, values[i] === undefined ? null : textOf(values[i], valueOf(key)));
      });
    }
    const out = new Map();
    for (const key of keys) {
      const text = known.get(key);
      if (text !== null) out.set(key, parseJson(text, valueOf(key)));
    }
    return out;
  },
  put(key, value) {
    const text = jsonText(value, `key "${checkKey(key)}"`);
    host(() => wit.put(key, utf8(text)));
    known.set(key, text);
  },
  putMany(entries) {
    if (typeof entries !== 'object' || entries === null) {
      throw new TypeError('put() takes a key and a value, or an object of entries');
    }
    const texts = Object.entries(entries).map(([k, v]) => [k, jsonText(v, `key "${k}"`)]);
    host(() => wit.putMany(texts.map(([k, t]) => [k, utf8(t)])));
    for (const [k, t] of texts) known.set(k, t);
  },
  delete(key) {
    const existed = host(() => wit.delete(checkKey(key)));
    known.set(key, null);
    return existed;
  },
  deleteMany(keys) {
    const count = host(() => wit.deleteMany(checkKeys(keys)));
    for (const key of keys) known.set(key, null);
    return count;
  },
  list(options) {
    const entries = host(() => wit.list(listOptions(options)));
    const out = new Map();
    for (const [k, v] of entries) out.set(k, decodeJson(v, `the value under key "${k}"`));
    return out;
  },
  getAlarm() {
    const at = wit.getAlarm();
    return at === undefined ? null : Number(at);
  },
  setAlarm(time) {
    wit.setAlarm(BigInt(alarmTime(time)));
  },
  deleteAlarm() {
    wit.deleteAlarm();
  },
};

/** The synchronous key-value API, `ctx.storage.kv`. */
export class SyncKvStorage {
  get(key) {
    return ops.get(key);
  }
  put(key, value) {
    ops.put(key, value);
  }
  delete(key) {
    return ops.delete(key);
  }
  /** Entries in key order as an iterable of `[key, value]` (a Map). */
  list(options) {
    return ops.list(options);
  }
}

// The async API of both `ctx.storage` and a transaction's `txn`.
class AsyncStorageOps {
  async get(keys) {
    return Array.isArray(keys) ? ops.getMany(keys) : ops.get(keys);
  }
  async put(keyOrEntries, value) {
    if (typeof keyOrEntries === 'string') ops.put(keyOrEntries, value);
    else ops.putMany(keyOrEntries);
  }
  async delete(keys) {
    return Array.isArray(keys) ? ops.deleteMany(keys) : ops.delete(keys);
  }
  async list(options) {
    return ops.list(options);
  }
  async getAlarm() {
    return ops.getAlarm();
  }
  async setAlarm(scheduledTime) {
    ops.setAlarm(scheduledTime);
  }
  async deleteAlarm() {
    ops.deleteAlarm();
  }
}

/** The `txn` given to `storage.transaction(fn)`: the storage API plus `rollback()`. */
class Transaction extends AsyncStorageOps {
  constructor() {
    super();
    this.rolledBack = false;
  }
  /** Discards this transaction's writes when its function returns. */
  rollback() {
    this.rolledBack = true;
  }
}

// Open transactions, innermost last, so that interleaved (not nested) transactions are caught
// instead of closing each other's savepoints.
const open = [];
// The first out-of-order close in the running event: the event fails with it.
let overlapped = null;

function begin() {
  host(() => wit.transactionBegin());
  const token = {};
  open.push(token);
  return token;
}

function end(token, keep) {
  if (open[open.length - 1] !== token) {
    overlapped ??= new Error(
      'storage transactions overlapped: a transaction ended while one started after it was ' +
        'still open; await one transaction before starting another (nesting is fine)',
    );
    throw overlapped;
  }
  open.pop();
  host(() => (keep ? wit.transactionCommit() : wit.transactionRollback()));
  if (!keep) forgetKnown();
}

/**
 * Ends the event's transaction bookkeeping: returns the overlap error that must fail the event,
 * if transactions closed out of order. Transactions left open commit with the event.
 */
export function endTransactions() {
  const error = overlapped;
  open.length = 0;
  overlapped = null;
  return error;
}

/** `ctx.storage`: Cloudflare's DurableObjectStorage. */
export class DurableObjectStorage extends AsyncStorageOps {
  constructor() {
    super();
    this.kv = new SyncKvStorage();
  }

  /** Removes every key of this object (the alarm is kept, as on Cloudflare). */
  async deleteAll() {
    wit.deleteAll();
    forgetKnown();
  }

  // Point-in-time recovery (bookmarks compare in time order as strings). "Now" is the state
  // the object's earlier events left; restores take effect when the object next starts (e.g.
  // after `ctx.abort()`). A refusal rejects with a StorageError ('invalid-argument').

  /** The bookmark of the state the object's earlier events left. */
  async getCurrentBookmark() {
    return host(() => wit.getCurrentBookmark());
  }

  /** The bookmark of the object's state at `time` (a Date or ms since the Unix epoch). */
  async getBookmarkForTime(time) {
    return host(() => wit.getBookmarkForTime(BigInt(alarmTime(time, 'getBookmarkForTime()'))));
  }

  /** Restores the object to `bookmark` when it next starts; resolves to the undo bookmark. */
  async onNextSessionRestoreBookmark(bookmark) {
    return host(() => wit.onNextSessionRestoreBookmark(String(bookmark)));
  }

  /**
   * A snapshot of the state the object's earlier events left (a string): an object of the same
   * class becomes a copy of it with `ctx.onNextSessionRestore(snapshot)`.
   */
  async snapshot() {
    return host(() => wit.snapshot());
  }

  /**
   * Runs `fn(txn)` as a nested transaction: if it throws (or calls `txn.rollback()`), its
   * writes alone are undone; the event goes on. Its writes otherwise commit with the event.
   */
  async transaction(fn) {
    const token = begin();
    const txn = new Transaction();
    let result;
    try {
      result = await fn(txn);
    } catch (e) {
      end(token, false);
      throw e;
    }
    end(token, !txn.rolledBack);
    return result;
  }

  /** The synchronous form of `transaction`: `fn()` runs at once, a throw undoes its writes. */
  transactionSync(fn) {
    const token = begin();
    let result;
    try {
      result = fn();
    } catch (e) {
      end(token, false);
      throw e;
    }
    if (result && typeof result.then === 'function') {
      end(token, false);
      throw new TypeError('transactionSync() takes a synchronous function; use transaction() for async ones');
    }
    end(token, true);
    return result;
  }

  /** Nothing to wait for: every write is part of the running event. */
  async sync() {}

  /** The object's SQL database (SQLite-backed classes; Cloudflare's SqlStorage). */
  get sql() {
    return sqlStorage;
  }
}
