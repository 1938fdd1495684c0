// Test guest (JavaScript): public methods other objects call over RPC, and stub calls.
//
//   GET /call/{ns}/{name}/{method}?args=[...]   {ok} or {error: {name, kind, message}}
//   GET /fetch/{ns}/{name}/{path}                {status, body} of stub.fetch
//   GET /bad/{ns}/{name}                         a call with a function argument
//   GET /echo/...                                what this object saw
//   GET /value                                   the counter

import { DurableObject } from 'cloudflare:workers';

export class Rpc extends DurableObject {
  async increment(by) {
    const value = ((await this.ctx.storage.get('value')) ?? 0) + by;
    await this.ctx.storage.put('value', value);
    return value;
  }

  async get() {
    return (await this.ctx.storage.get('value')) ?? 0;
  }

  async boom(message) {
    await this.ctx.storage.put('value', -1);
    throw new RangeError(message);
  }

  /** Values JSON cannot hold, for the other languages to read. */
  async clones() {
    return {
      missing: undefined,
      at: new Date(Date.UTC(2026, 11, 1)),
      big: 2n ** 70n,
      names: new Map([[1, 'one']]),
      tags: new Set(['a']),
      bytes: new Uint8Array([1, 2]),
    };
  }

  /** How JavaScript sees `value` (what another language passed). */
  async describe(value) {
    return Object.entries(value)
      .map(([k, v]) => {
        const kind = v === undefined ? 'undefined' : v === null ? 'null' : v.constructor.name;
        const shown =
          v instanceof Date ? v.toISOString()
          : v instanceof Map || v instanceof Set ? JSON.stringify([...v])
          : v instanceof Uint8Array ? [...v].join(',')
          : String(v);
        return `${k}=${kind}(${shown})`;
      })
      .join(' ');
  }

  #secret() {
    return 'never reachable';
  }

  async fetch(request) {
    const url = new URL(request.url);
    const [, op, ns, name, ...rest] = url.pathname.split('/');
    if (op === 'call') {
      const args = JSON.parse(url.searchParams.get('args') ?? '[]');
      try {
        return Response.json({ ok: await this.env[ns].getByName(name)[rest[0]](...args) });
      } catch (e) {
        return Response.json({ error: { name: e.name, kind: e.kind, message: e.message } });
      }
    }
    if (op === 'fetch') {
      const stub = this.env[ns].get(this.env[ns].idFromName(name));
      const r = await stub.fetch(`http://object/${rest.join('/')}?q=1`, { headers: { 'x-test': 'js' } });
      return Response.json({ status: r.status, body: await r.text() });
    }
    if (op === 'bad') {
      try {
        await this.env[ns].getByName(name).increment(() => 1);
        return Response.json({ error: 'no error' });
      } catch (e) {
        return Response.json({ error: { name: e.name, message: e.message } });
      }
    }
    if (op === 'echo') {
      return Response.json({ path: url.pathname + url.search, header: request.headers.get('x-test') });
    }
    if (op === 'value') return Response.json(await this.get());
    return new Response('not found', { status: 404 });
  }
}
