// The component's `worker-handler` export: the module's default export, as on Cloudflare —
// `export default { fetch(request, env, ctx) }`, or a Hono app (`export default app`). The
// host reuses an instance for many requests, one at a time. `ctx.waitUntil(promise)` work runs
// after the response is sent (the host calls `waitUntil` next, before the instance's next
// request).

import * as workerContext from 'holdfast:object/worker-context@0.1.0';
import { makeEnv } from './env.js';
import { message, hasWorker } from './handler.js';
import { fromResponse, toRequest } from './http.js';

let env = null;
let deferred = [];

function isThenable(value) {
  return value !== null && typeof value === 'object' && typeof value.then === 'function';
}

/** The `worker-handler` export for the default export of `module`. */
export function makeWorker(module) {
  return {
    fetch(req) {
      if (!hasWorker(module)) {
        throw 'this component has no worker: export default { fetch(request, env, ctx) } (or a Hono app)';
      }
      if (env === null) env = makeEnv();
      const ctx = {
        waitUntil(promise) {
          // The host calls waitUntil() after the response only for requests that deferred.
          if (deferred.length === 0) workerContext.defer();
          deferred.push(Promise.resolve(promise));
        },
        passThroughOnException() {},
      };
      const fail = (e) => {
        throw message(e);
      };
      let out;
      try {
        out = module.default.fetch(toRequest(req), env, ctx);
      } catch (e) {
        fail(e);
      }
      const done = (resp) => {
        try {
          return fromResponse(resp);
        } catch (e) {
          return fail(e);
        }
      };
      if (isThenable(out)) return out.then(done, fail).then((r) => (isThenable(r) ? r.then(undefined, fail) : r));
      return done(out);
    },
    waitUntil() {
      const work = deferred;
      deferred = [];
      if (work.length === 0) return;
      return Promise.allSettled(work).then((results) => {
        const failed = results.filter((r) => r.status === 'rejected');
        if (failed.length > 0) {
          throw `${failed.length} of ${work.length} waitUntil promises rejected; the first: ${message(failed[0].reason)}`;
        }
      });
    },
  };
}
