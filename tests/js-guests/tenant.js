// Test guest for many objects per instance (tests/tests/shared_instances.rs): each object keeps a
// counter in memory; module-level state is the instance's, shared by every object it hosts, and
// lets the tests see which objects share an instance.

import { DurableObject } from 'cloudflare:workers';

// How many Tenant objects this instance has constructed, and events it has run (per instance).
let constructed = 0;
let events = 0;
// What the running object could learn of others if the SDK leaked: the last object it ran.
let lastId = null;

export class Tenant extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    constructed += 1;
    this.constructedAs = constructed;
    this.count = 0;
  }

  async fetch(request) {
    events += 1;
    const url = new URL(request.url);
    const q = (name) => url.searchParams.get(name);
    const json = (value, status = 200) => Response.json(value, { status });
    const previous = lastId;
    lastId = this.ctx.id.toString();
    switch (url.pathname) {
      case '/bump':
        this.count += 1;
        return json({ count: this.count, constructedAs: this.constructedAs, events });
      case '/incr': {
        // A durable counter: every successful event adds exactly one.
        const n = ((await this.ctx.storage.get('n')) ?? 0) + 1;
        await this.ctx.storage.put('n', n);
        return json({ n, count: ++this.count });
      }
      case '/fail':
        this.count += 1;
        await this.ctx.storage.put('failed-write', 1);
        throw new Error('this event fails on purpose');
      case '/oom': {
        // Grows until the instance's memory limit traps it.
        const hoard = [];
        for (;;) hoard.push(new Array(1 << 20).fill(hoard.length));
      }
      case '/spin':
        for (;;) events += 1;
      case '/put':
        await this.ctx.storage.put(q('key'), q('value'));
        return json({ ok: true });
      case '/whoami':
        return json({
          id: this.ctx.id.toString(),
          name: this.ctx.id.name ?? null,
          keys: [...(await this.ctx.storage.list()).keys()],
          sockets: this.ctx.getWebSockets().length,
          count: this.count,
          // The previous event's object, from module state: shows that objects share the
          // instance (the SDK's own state is per object; module state is the user's).
          previousWasOther: previous !== null && previous !== lastId,
        });
      case '/call': {
        // Calls another Tenant by name.
        const stub = this.env.TENANT.get(this.env.TENANT.idFromName(q('to')));
        const first = await (await stub.fetch('http://do/bump')).json();
        return json({ callee: first, caller: this.count });
      }
      case '/ws': {
        const pair = new WebSocketPair();
        this.ctx.acceptWebSocket(pair[1]);
        return new Response(null, { status: 101, webSocket: pair[0] });
      }
      default:
        return json({ error: `no route ${url.pathname}` }, 404);
    }
  }

  webSocketMessage(ws, message) {
    this.count += 1;
    ws.send(JSON.stringify({ echo: message, count: this.count, id: this.ctx.id.toString() }));
  }
}
