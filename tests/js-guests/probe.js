// Test guest for the JavaScript SDK: the older plain-class style (constructor(state, env),
// `this.state`), with routes that exercise Cloudflare's API surface. Each route answers JSON.

export class Probe {
  constructor(state, env) {
    this.state = state;
    this.env = env;
    this.constructions = 0;
    // Runs inside the first event, before it is delivered; its write commits with that event.
    state.blockConcurrencyWhile(async () => {
      this.constructions = ((await state.storage.get('constructions')) ?? 0) + 1;
      await state.storage.put('constructions', this.constructions);
    });
  }

  async fetch(request) {
    const url = new URL(request.url);
    const q = (name) => url.searchParams.get(name);
    const storage = this.state.storage;
    const json = (value, status = 200) => Response.json(value, { status });
    const body = request.method === 'POST' ? await request.text() : '';
    const input = body ? JSON.parse(body) : undefined;

    switch (url.pathname) {
      case '/whoami':
        return json({
          id: this.state.id.toString(),
          name: this.state.id.name ?? null,
          constructions: this.constructions,
          bindings: Object.keys(this.env),
          sameId: this.env.probe.idFromName(this.state.id.name ?? '').equals(this.state.id),
        });
      case '/put':
        await storage.put(q('key'), input);
        return json({ ok: true });
      case '/put-many':
        await storage.put(input);
        return json({ ok: true });
      case '/get':
        return json({ value: (await storage.get(q('key'))) ?? null });
      case '/get-many':
        return json(Object.fromEntries(await storage.get(input)));
      case '/delete':
        return json({ deleted: await storage.delete(input) });
      case '/list':
        return json([...(await storage.list(input ?? {}))]);
      case '/kv': {
        const kv = storage.kv;
        kv.put('kv-a', { n: 1 });
        kv.put('kv-b', [1, 'two']);
        const got = kv.get('kv-a');
        const missing = kv.get('kv-none');
        const deleted = kv.delete('kv-b');
        return json({ got, missing: missing === undefined, deleted, list: [...kv.list({ prefix: 'kv-' })] });
      }
      case '/delete-all':
        await storage.deleteAll();
        return json({ ok: true });
      case '/remember': {
        // Loaded from storage on first use, then kept in memory: a refused put (big=1) or a
        // throw (fail=1) fails the event, which must not leave the item in memory either.
        this.memory = this.memory ?? ((await storage.get('remembered')) ?? []);
        if (request.method === 'POST') {
          this.memory.push(q('item'));
          await storage.put('remembered', this.memory);
          if (q('big')) await storage.put('big', 'x'.repeat(200 * 1024));
          if (q('fail')) throw new Error('failed after remembering');
          return json({ ok: true });
        }
        return json({ memory: this.memory, stored: (await storage.get('remembered')) ?? [] });
      }
      case '/fail-after-write':
        await storage.put('doomed', 1);
        throw new RangeError('failed on purpose');
      case '/throw-object':
        await storage.put('doomed', 1);
        throw { reason: 'a plain object' };
      case '/transaction': {
        // An inner transaction that throws is undone; the outer one and the event keep theirs.
        let innerAfter;
        await storage.transaction(async (txn) => {
          await txn.put('outer', 1);
          try {
            await storage.transaction(async (inner) => {
              await inner.put('inner', 1);
              await inner.setAlarm(Date.now() + 3_600_000);
              throw new Error('inner fails');
            });
          } catch {}
          // Read back through the SDK (not list): the undone write must not be seen.
          innerAfter = (await txn.get('inner')) ?? null;
          storage.transactionSync(() => storage.kv.put('sync-kept', true));
          try {
            storage.transactionSync(() => {
              storage.kv.put('sync-undone', true);
              throw new Error('sync fails');
            });
          } catch {}
        });
        await storage.transaction(async (txn) => {
          await txn.put('rolled-back', 1);
          txn.rollback();
        });
        const keys = [...(await storage.list())].map(([k]) => k);
        return json({ keys, alarm: await storage.getAlarm(), innerAfter });
      }
      case '/overlapping-transactions': {
        // The first one ends while the second, started after it, is still open.
        const fast = storage.transaction(async (txn) => txn.put('fast', 1));
        const slow = storage.transaction(async (txn) => {
          await new Promise((r) => setTimeout(r, 5));
          await txn.put('slow', 1);
        });
        const outcomes = await Promise.allSettled([slow, fast]);
        return json(outcomes.map((o) => (o.status === 'fulfilled' ? 'ok' : String(o.reason))));
      }
      case '/clones-write': {
        // What Cloudflare's structured clone keeps and JSON cannot hold: stored tagged.
        await storage.put({
          'clone-undefined': undefined,
          'clone-numbers': [NaN, Infinity, -Infinity, -0, 1.5],
          'clone-bigint': 2n ** 70n,
          'clone-date': new Date(Date.UTC(2026, 11, 1, 10, 0, 0, 250)),
          'clone-map': new Map([['a', 1], [2, { b: undefined }]]),
          'clone-set': new Set(['x', 3]),
          'clone-bytes': new Uint8Array([1, 2, 255]),
          'clone-buffer': new Uint8Array([7, 8]).buffer,
          'clone-regexp': /a+b/gi,
          'clone-error': new RangeError('out of range'),
          'clone-event': { type: 'created', data: undefined, at: new Date(0) },
          'clone-sparse': [1, , 3],
          'clone-dollar': { $date: 'not a tag' },
          'clone-instance': new (class Point { constructor() { this.x = 1; this.y = 2; } })(),
        });
        return json({ ok: true });
      }
      case '/clones-read': {
        const m = await storage.list({ prefix: 'clone-' });
        const d = (v) => {
          if (v === undefined) return 'undefined';
          if (typeof v === 'bigint') return `${v}n`;
          if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
          if (v instanceof Date) return `Date(${v.toISOString()})`;
          if (v instanceof Map) return `Map(${[...v].map(([k, x]) => `${d(k)}=>${d(x)}`).join(', ')})`;
          if (v instanceof Set) return `Set(${[...v].map(d).join(', ')})`;
          if (v instanceof Uint8Array) return `Uint8Array(${[...v].join(',')})`;
          if (v instanceof ArrayBuffer) return `ArrayBuffer(${[...new Uint8Array(v)].join(',')})`;
          if (v instanceof RegExp) return `RegExp(${v})`;
          if (v instanceof Error) return `${v.constructor.name}(${v.message}) ${v instanceof RangeError}`;
          if (Array.isArray(v)) return `[${v.map(d).join(', ')}]`;
          if (v !== null && typeof v === 'object') {
            return `{${Object.entries(v).map(([k, x]) => `${k}: ${d(x)}`).join(', ')}}`;
          }
          return JSON.stringify(v);
        };
        return json(Object.fromEntries([...m].map(([k, v]) => [k.slice(6), d(v)])));
      }
      case '/refusals': {
        const out = {};
        const cases = {
          fn: () => 1,
          symbol: { s: Symbol('s') },
          typed: new Int32Array(2),
          promise: { p: Promise.resolve(1) },
        };
        const cyclic = { a: 1 };
        cyclic.self = cyclic;
        cases.cycle = cyclic;
        for (const [name, value] of Object.entries(cases)) {
          try {
            await storage.put(`refused-${name}`, value);
            out[name] = 'stored';
          } catch (e) {
            out[name] = `${e.name}: ${e.message}`;
          }
        }
        try {
          await storage.put('k'.repeat(3000), 1);
        } catch (e) {
          out.keyTooLarge = `${e.name} ${e.kind}: ${e.message}`;
        }
        try {
          await storage.list({ start: 'a', startAfter: 'b' });
        } catch (e) {
          out.badList = `${e.name} ${e.kind}: ${e.message}`;
        }
        const mistakes = {
          numberKey: () => storage.get(5),
          zeroLimit: () => storage.list({ limit: 0 }),
          badPrefix: () => storage.list({ prefix: 7 }),
          badAlarm: () => storage.setAlarm('tomorrow'),
          tooMany: () => storage.get(Array.from({ length: 129 }, (_, i) => `k${i}`)),
          tooLarge: () => storage.put('refused-big', 'x'.repeat(200_000)),
          putNothing: () => storage.put(null),
          asyncInSync: async () => storage.transactionSync(async () => storage.kv.put('refused-tx', 1)),
          acceptNotAPair: async () => this.state.acceptWebSocket({}),
          acceptBadTags: async () => {
            const pair = new WebSocketPair();
            this.state.acceptWebSocket(pair[1], [1]);
          },
          sendUnaccepted: async () => new WebSocketPair()[1].send('hi'),
          sql: async () => storage.sql.exec('SELECT 1'),
        };
        for (const [name, call] of Object.entries(mistakes)) {
          try {
            await call();
            out[name] = 'no error';
          } catch (e) {
            out[name] = `${e.name}${e.kind ? ` ${e.kind}` : ''}: ${e.message}`;
          }
        }
        out.kept = [...(await storage.list({ prefix: 'refused-' }))].length;
        return json(out);
      }
      case '/outbound': {
        // fetch() to the world outside: the response, or the rejection's name, kind and message.
        try {
          const init = q('method') ? { method: q('method'), body: q('body') } : undefined;
          const r = await fetch(q('url'), init);
          return json({ status: r.status, body: await r.text(), upstream: r.headers.get('x-upstream') });
        } catch (e) {
          return json({ error: { name: e.name, kind: e.kind, message: e.message } });
        }
      }
      case '/alarm': {
        const at = Number(q('at'));
        await storage.setAlarm(q('date') ? new Date(at) : at);
        return json({ alarm: await storage.getAlarm() });
      }
      case '/log':
        // One line to stdout and one to stderr (the inspector's and `holdfast tail`'s tests).
        console.log(`out: ${q('text')}`);
        console.error(`err: ${q('text')}`);
        return json({ ok: true });
      case '/alarm-get':
        return json({ alarm: await storage.getAlarm(), fired: (await storage.get('fired')) ?? [] });
      case '/alarm-delete':
        await storage.deleteAlarm();
        return json({ alarm: await storage.getAlarm() });
      case '/stub': {
        const id = this.env.probe.idFromName('other');
        const unique = this.env.probe.newUniqueId();
        const parsed = this.env.probe.idFromString(unique.toString());
        let fetched;
        try {
          const r = await this.env.probe.get(id).fetch('http://other/whoami');
          fetched = (await r.json()).id === id.toString() ? 'reached' : 'elsewhere';
        } catch (e) {
          fetched = String(e);
        }
        let bad;
        try {
          this.env.probe.idFromString('nope');
        } catch (e) {
          bad = String(e);
        }
        return json({ id: id.toString(), name: id.name, unique: parsed.equals(unique), fetched, bad });
      }
      case '/platform': {
        const headers = new Headers({ 'X-One': '1' });
        headers.append('x-one', '2');
        return json({
          uuid: crypto.randomUUID(),
          now: Date.now(),
          encoded: [...new TextEncoder().encode('hé')],
          decoded: new TextDecoder().decode(new Uint8Array([104, 195, 169])),
          random: crypto.getRandomValues(new Uint8Array(16)).some((b) => b !== 0),
          header: headers.get('x-one'),
          method: request.method,
          echo: request.headers.get('x-echo'),
          query: q('a'),
        });
      }
      case '/wait-until':
        this.state.waitUntil(
          (async () => {
            await new Promise((r) => setTimeout(r, 5));
            await storage.put('waited', true);
          })(),
        );
        return json({ ok: true });
      case '/abort':
        await storage.put('doomed', 1);
        this.state.abort('aborted on purpose');
        return json({ unreachable: true });
      case '/bookmark':
      case '/bookmark-for-time':
      case '/restore-bookmark':
      case '/snapshot':
      case '/restore-snapshot':
        return this.history(url.pathname, q, input, json);
      case '/not-a-response':
        return { status: 200 };
      default:
        return json({ error: 'not found' }, 404);
    }
  }

  // Point-in-time recovery and snapshots; a refusal answers 400 with the host's message.
  async history(path, q, input, json) {
    const storage = this.state.storage;
    try {
      switch (path) {
        case '/bookmark':
          return json({ bookmark: await storage.getCurrentBookmark() });
        case '/bookmark-for-time':
          return json({ bookmark: await storage.getBookmarkForTime(Number(q('time'))) });
        case '/restore-bookmark':
          return json({ undo: await storage.onNextSessionRestoreBookmark(input.bookmark) });
        case '/snapshot':
          return json({ snapshot: await storage.snapshot() });
        default:
          return json({ undo: await this.state.onNextSessionRestore(input.snapshot) });
      }
    } catch (e) {
      return json({ error: e.message, kind: e.kind ?? null }, 400);
    }
  }

  async alarm(info) {
    const fired = (await this.state.storage.get('fired')) ?? [];
    fired.push(info);
    await this.state.storage.put('fired', fired);
    if ((await this.state.storage.get('fail-alarms')) && !info.isRetry) {
      throw new Error('alarm fails the first time');
    }
  }
}
