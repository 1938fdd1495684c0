// `ctx.storage.sql`: Cloudflare's SqlStorage over Holdfast's `sql` import. Every statement runs
// in the running event's transaction, with its key-value writes: they commit together, or are
// all discarded when the event fails. `transactionSync()` nests them in a savepoint.

import * as wit from 'holdfast:object/sql@0.1.0';

/** A SQL call the host refused or SQLite failed; nothing of the call was kept. */
export class SqlError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = 'Error';
    /** 'sqlite' | 'not-allowed' | 'too-large' | 'full' | 'not-sqlite' | 'invalid-argument' */
    this.kind = kind;
  }
}

function host(call) {
  try {
    return call();
  } catch (e) {
    if (e && e.payload && typeof e.payload.message === 'string') {
      throw new SqlError(e.payload.kind, e.payload.message);
    }
    throw e;
  }
}

const MIN_INTEGER = -(2n ** 63n);
const MAX_INTEGER = 2n ** 63n - 1n;

/** One binding as the host takes it. */
function binding(value, index) {
  const where = `binding ${index + 1}`;
  if (value === null) return { tag: 'null' };
  switch (typeof value) {
    case 'string':
      return { tag: 'text', val: value };
    case 'number':
      return Number.isSafeInteger(value)
        ? { tag: 'integer', val: BigInt(value) }
        : { tag: 'real', val: value };
    case 'bigint':
      if (value < MIN_INTEGER || value > MAX_INTEGER) {
        throw new RangeError(`${where}: ${value} does not fit SQLite's 64-bit integers`);
      }
      return { tag: 'integer', val: value };
    case 'undefined':
      throw new TypeError(`${where} is undefined: bind null for SQL NULL`);
    case 'boolean':
      throw new TypeError(`${where} is a boolean: SQL takes 1 or 0`);
    default:
      break;
  }
  if (value instanceof ArrayBuffer) return { tag: 'blob', val: new Uint8Array(value) };
  if (ArrayBuffer.isView(value)) {
    return { tag: 'blob', val: new Uint8Array(value.buffer, value.byteOffset, value.byteLength) };
  }
  throw new TypeError(
    `${where} is ${value?.constructor?.name ?? typeof value}: SQL bindings are strings, numbers, null or ArrayBuffers`,
  );
}

/** A column's value as Cloudflare gives it: number, string, ArrayBuffer or null. */
function column(v) {
  switch (v.tag) {
    case 'null':
      return null;
    case 'integer':
      return Number(v.val);
    case 'real':
      return v.val;
    case 'text':
      return v.val;
    case 'blob': {
      const b = v.val;
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
    }
    default:
      throw new Error(`unknown SQL value ${v.tag}`);
  }
}

/**
 * The result of `exec()`: iterable, with `next()`, `toArray()`, `one()`, `raw()`,
 * `columnNames`, `rowsRead` and `rowsWritten`. The statements have run to completion when
 * `exec()` returns; the cursor hands their rows out one at a time.
 */
export class SqlStorageCursor {
  #columns;
  #rows;
  #next = 0;

  constructor(result) {
    this.#columns = result.columns;
    this.#rows = result.rows;
    /** Rows read by the query's statements. */
    this.rowsRead = Number(result.rowsRead);
    /** Rows inserted, updated or deleted by them. */
    this.rowsWritten = Number(result.rowsWritten);
  }

  get columnNames() {
    return this.#columns.slice();
  }

  #object(row) {
    const out = {};
    this.#columns.forEach((name, i) => {
      out[name] = column(row[i]);
    });
    return out;
  }

  #take() {
    return this.#next < this.#rows.length ? this.#rows[this.#next++] : undefined;
  }

  /** The next row as an object of column → value. */
  next() {
    const row = this.#take();
    return row === undefined ? { done: true, value: undefined } : { done: false, value: this.#object(row) };
  }

  [Symbol.iterator]() {
    return this;
  }

  /** Every remaining row, as objects. */
  toArray() {
    const out = [];
    for (let row = this.#take(); row !== undefined; row = this.#take()) out.push(this.#object(row));
    return out;
  }

  /** The only row; throws unless exactly one remains. */
  one() {
    const rest = this.#rows.length - this.#next;
    if (rest === 0) throw new Error('Expected exactly one result from SQL query, but got no results.');
    if (rest > 1) throw new Error('Expected exactly one result from SQL query, but got multiple results.');
    return this.#object(this.#take());
  }

  /** The remaining rows as arrays of values, sharing this cursor's position. */
  raw() {
    const self = this;
    return {
      next() {
        const row = self.#take();
        return row === undefined ? { done: true, value: undefined } : { done: false, value: row.map(column) };
      },
      toArray() {
        const out = [];
        for (let row = self.#take(); row !== undefined; row = self.#take()) out.push(row.map(column));
        return out;
      },
      [Symbol.iterator]() {
        return this;
      },
    };
  }
}

/** `ctx.storage.sql`: Cloudflare's SqlStorage. */
export class SqlStorage {
  /**
   * Runs `query` (one statement, or several separated by `;`, which succeed or fail together)
   * with `bindings` for the last statement's `?` parameters.
   */
  exec(query, ...bindings) {
    if (typeof query !== 'string') throw new TypeError('exec() takes the SQL query as a string');
    const params = bindings.map(binding);
    return new SqlStorageCursor(host(() => wit.exec(query, params)));
  }

  /** Bytes of the object's database, this event's writes included. */
  get databaseSize() {
    return Number(host(() => wit.databaseSize()));
  }
}
