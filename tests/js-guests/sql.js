// Test guest for the JavaScript SDK's SQL API (`ctx.storage.sql`), written as on Cloudflare.
//
//   POST /exec    {"query", "bindings"}: {"columns", "rows" (raw), "rowsRead", "rowsWritten"},
//                 or 400 {"error": {"name", "kind", "message"}}; a binding {"buffer": [bytes]}
//                 is passed as an ArrayBuffer
//   POST /tour    runs the cursor API end to end and answers what it saw
//   POST /fail    inserts a row and writes a key, then throws
//   GET  /count   {"rows": rows of table t, "key": the key written by /fail}

import { DurableObject } from 'cloudflare:workers';

const describe = (e) => ({ name: e.name, kind: e.kind ?? null, message: e.message });

export class SqlProbe extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec('CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, name TEXT, data BLOB)');
  }

  async fetch(request) {
    const url = new URL(request.url);
    switch (url.pathname) {
      case '/exec': {
        const { query, bindings = [] } = await request.json();
        const args = bindings.map((b) =>
          b !== null && typeof b === 'object' && 'buffer' in b ? new Uint8Array(b.buffer).buffer : b,
        );
        try {
          const cursor = this.sql.exec(query, ...args);
          const rows = cursor.raw().toArray().map((r) =>
            r.map((v) => (v instanceof ArrayBuffer ? { buffer: [...new Uint8Array(v)] } : v)),
          );
          return Response.json({
            columns: cursor.columnNames,
            rows,
            rowsRead: cursor.rowsRead,
            rowsWritten: cursor.rowsWritten,
          });
        } catch (e) {
          return Response.json({ error: describe(e) }, { status: 400 });
        }
      }
      case '/tour':
        return Response.json(this.tour());
      case '/fail': {
        this.sql.exec("INSERT INTO t(name) VALUES ('lost')");
        await this.ctx.storage.put('lost', true);
        throw new Error('deliberate failure after writing');
      }
      case '/count':
        return Response.json({
          rows: this.sql.exec('SELECT count(*) AS n FROM t').one().n,
          key: (await this.ctx.storage.get('lost')) ?? null,
        });
      default:
        return new Response('not found', { status: 404 });
    }
  }

  tour() {
    const sql = this.sql;
    const seen = {};
    sql.exec('DELETE FROM t; CREATE TABLE IF NOT EXISTS scores(player TEXT PRIMARY KEY, points INTEGER)');
    const inserted = sql.exec(
      'INSERT INTO t(id, name, data) VALUES (?, ?, ?), (2, ?, NULL), (3, ?, NULL) RETURNING id',
      1,
      'ada',
      new Uint8Array([1, 2, 255]).buffer,
      'grace',
      'linus',
    );
    seen.returning = inserted.toArray();
    seen.rowsWritten = inserted.rowsWritten;
    const cursor = sql.exec('SELECT id, name, data FROM t ORDER BY id');
    seen.columnNames = cursor.columnNames;
    const first = cursor.next().value;
    seen.first = { id: first.id, name: first.name, data: [...new Uint8Array(first.data)] };
    seen.rawRest = cursor.raw().toArray();
    seen.doneAfter = cursor.next().done;
    seen.iterated = [...sql.exec('SELECT name FROM t ORDER BY id DESC')].map((r) => r.name);
    seen.one = sql.exec('SELECT count(*) AS n FROM t').one();
    seen.rowsRead = sql.exec('SELECT * FROM t').rowsRead;
    seen.real = sql.exec('SELECT 1.5 AS x, 7 AS y, NULL AS z').one();
    seen.bigint = sql.exec('SELECT ? AS big', 2n ** 40n).one().big;
    seen.databaseSize = sql.databaseSize;
    // A throw in transactionSync undoes its SQL and key-value writes together.
    try {
      this.ctx.storage.transactionSync(() => {
        sql.exec("INSERT INTO scores VALUES ('ada', 10)");
        this.ctx.storage.kv.put('inside', 1);
        throw new Error('undo');
      });
    } catch (e) {
      seen.transactionError = e.message;
    }
    seen.afterRollback = {
      scores: sql.exec('SELECT count(*) AS n FROM scores').one().n,
      inside: this.ctx.storage.kv.get('inside') ?? null,
    };
    this.ctx.storage.transactionSync(() => {
      sql.exec("INSERT INTO scores VALUES ('grace', 20)");
    });
    seen.afterCommit = sql.exec('SELECT player, points FROM scores').toArray();
    const errors = {};
    const attempt = (name, fn) => {
      try {
        fn();
        errors[name] = null;
      } catch (e) {
        errors[name] = describe(e);
      }
    };
    attempt('begin', () => sql.exec('BEGIN'));
    attempt('syntax', () => sql.exec('SELEC 1'));
    attempt('constraint', () => sql.exec('INSERT INTO t(id) VALUES (1)'));
    attempt('oneOfNone', () => sql.exec('SELECT * FROM t WHERE id = 99').one());
    attempt('oneOfMany', () => sql.exec('SELECT * FROM t').one());
    attempt('boolean', () => sql.exec('SELECT ?', true));
    attempt('undefined', () => sql.exec('SELECT ?', undefined));
    attempt('object', () => sql.exec('SELECT ?', {}));
    attempt('reserved', () => sql.exec('CREATE TABLE _cf_x(a)'));
    attempt('pragma', () => sql.exec('PRAGMA writable_schema = ON'));
    seen.errors = errors;
    return seen;
  }
}
