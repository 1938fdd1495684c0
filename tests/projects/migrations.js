// The module of the migrations test's wrangler project (tests/tests/cloudflare_project.rs):
// three classes with one implementation, so that the test can rename bindings and classes in
// wrangler.toml alone, and a worker that reaches any binding by the path:
//
//   POST /{BINDING}/{name}/inc   adds 1 to the object's counter
//   POST /{BINDING}/{name}/get   reads it
//   → {"id", "value", "mode"} (mode: the MODE var), or 404 {"error": "no binding X"}

import { DurableObject } from 'cloudflare:workers';

export class Counter extends DurableObject {
  async add(n) {
    const value = ((await this.ctx.storage.get('value')) ?? 0) + n;
    if (n !== 0) await this.ctx.storage.put('value', value);
    return value;
  }
}

export class Tally extends Counter {}
export class Other extends Counter {}

export default {
  async fetch(request, env) {
    const [, binding, name, op] = new URL(request.url).pathname.split('/');
    const ns = env[binding];
    if (ns === undefined || typeof ns.idFromName !== 'function') {
      return Response.json({ error: `no binding ${binding}` }, { status: 404 });
    }
    const id = ns.idFromName(name);
    const value = await ns.get(id).add(op === 'inc' ? 1 : 0);
    return Response.json({ id: id.toString(), value, mode: env.MODE ?? null });
  },
};
