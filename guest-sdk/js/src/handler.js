// The component's `handler` export: each host event becomes a call on the user's class. One
// instance of the class lives as long as the activation; it is made on the first event (inside
// that event, so its constructor's writes commit with it) and made again after
// `ctx.abort()` or a failed `blockConcurrencyWhile`. The instance and its `ctx` are the running
// object's (hosting.js: a component instance may host many objects).

import './globals.js';
import * as context from 'holdfast:object/context@0.1.0';
import { makeEnv } from './env.js';
import { DurableObject } from './index.js';
import { decodeJson, encodeJson } from './json.js';
import { fromResponse, toRequest } from './http.js';
import { DurableObjectState } from './state.js';
import { current, enterRunning } from './hosting.js';
import { endTransactions, forgetKnown } from './storage.js';
import {
  dispatch,
  dropSends,
  flushSends,
  forgetSocket,
  socketFor,
  usesListeners,
} from './websocket.js';

let Class = null;
/** The env (frozen, the same for every object of the class), made on the first event. */
let env = null;
/** The user's module and the class named at build time (`--class`), if any. */
let userModule = null;
let builtFor = null;

/** Whether `value` is a promise (or another thenable). */
function isThenable(value) {
  return value !== null && typeof value === 'object' && typeof value.then === 'function';
}

/** `fn(value)`, at once if `value` is not a promise: events that never await stay synchronous. */
function then(value, fn) {
  return isThenable(value) ? value.then(fn) : fn(value);
}

/** The class instance, made on the first event; settles its constructor's promises first. */
function object() {
  if (Class === null) Class = chooseClass();
  const o = current;
  if (o.instance === null) {
    o.state = new DurableObjectState();
    env ??= makeEnv();
    o.instance = new Class(o.state, env);
  }
  return o.state._pending() ? o.state._settle().then(() => o.instance) : o.instance;
}

/** Ends a successful event body: settles what it started, then checks how it ended. */
function complete(out) {
  const state = current.state;
  if (state._pending()) return state._settle().then(() => complete(out));
  if (state._aborted) throw state._abortError ?? new Error('the object was aborted');
  const overlap = endTransactions();
  if (overlap) throw overlap;
  flushSends();
  return out;
}

/** The message the host reports for a failed event (a 500 body for fetch). */
export function message(e) {
  // Errors raised inside the component's bindings (e.g. by a typed array they returned) belong
  // to another realm: they are Errors without being `instanceof Error`.
  if (e instanceof Error || Object.prototype.toString.call(e) === '[object Error]') return String(e);
  if (typeof e === 'string') return e;
  const proto = e !== null && typeof e === 'object' ? Object.getPrototypeOf(e) : null;
  if (proto !== null && proto !== Object.prototype && proto !== Array.prototype) {
    return `uncaught ${e.constructor?.name ?? 'object'} was thrown`;
  }
  try {
    return `uncaught ${JSON.stringify(e)}`;
  } catch {
    return `uncaught ${String(e)}`;
  }
}

/**
 * Runs one event; a throw becomes the event's error (the host rolls back its writes). An event
 * whose code never awaits finishes synchronously: componentize-js then skips its event loop.
 */
function run(body, wrap = (m) => m) {
  const fail = (e) => {
    endTransactions();
    dropSends();
    // The host discards the event's writes: what the activation knows may reflect them.
    forgetKnown();
    if (current.state === null || current.state._aborted) {
      current.instance = null;
      current.state = null;
    }
    // componentize-js turns a thrown value into the `err` of the export's result.
    throw wrap(e === NO_SUCH_METHOD ? e : message(e));
  };
  let out;
  try {
    enterRunning();
    out = then(then(object(), body), complete);
  } catch (e) {
    fail(e);
  }
  return isThenable(out) ? out.then(undefined, fail) : out;
}

function method(obj, name) {
  const m = obj[name];
  if (typeof m !== 'function') throw new TypeError(`${Class.name} has no ${name}() method`);
  return m.bind(obj);
}

function messageData(msg) {
  if (msg.tag === 'text') return msg.val;
  // A copy made here: the bindings' bytes belong to another realm, and `data instanceof
  // ArrayBuffer` must hold for the object's code.
  return new Uint8Array(msg.val).buffer;
}

const CLASS_METHODS = ['fetch', 'alarm', 'webSocketMessage', 'webSocketClose', 'webSocketError'];

/** Thrown (and caught by `run`) for a call of a method the class does not expose. */
const NO_SUCH_METHOD = Symbol('no such method');

/** The public method `name` of `obj` (on its class, below DurableObject), or null. */
function rpcMethod(obj, name) {
  if (name === 'constructor' || CLASS_METHODS.includes(name)) return null;
  for (let p = Object.getPrototypeOf(obj); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    if (p === DurableObject.prototype) break;
    const d = Object.getOwnPropertyDescriptor(p, name);
    if (d) return typeof d.value === 'function' ? d.value : null;
  }
  return null;
}


function isObjectClass(value) {
  return (
    typeof value === 'function' &&
    value.prototype !== undefined &&
    CLASS_METHODS.some((m) => typeof value.prototype[m] === 'function')
  );
}

/** Whether the module's default export is a worker (an object, or a Hono app, with `fetch`). */
export function hasWorker(module) {
  const d = module.default;
  return d !== null && (typeof d === 'object' || typeof d === 'function') && typeof d.fetch === 'function';
}

/** Checks at build time that `module` has something to serve (`className`, a class, a worker). */
function checkModule(module, className) {
  if (className) {
    if (typeof module[className] !== 'function') {
      throw new Error(`the module exports no class named ${className}`);
    }
    return;
  }
  const found = Object.entries(module).filter(([, v]) => isObjectClass(v));
  if (found.length === 0 && !hasWorker(module)) {
    throw new Error(
      'the module exports no Durable Object class (a class with a fetch, alarm or webSocket* ' +
        'method) and no worker (a default export with a fetch method)',
    );
  }
}

/**
 * The class this object runs as: the export named by the host's config (`class`), so one
 * component serves several classes; else the class named at build time, or the only one.
 */
function chooseClass() {
  const wanted = context.className();
  if (typeof userModule[wanted] === 'function') return userModule[wanted];
  if (builtFor) return userModule[builtFor];
  const found = Object.entries(userModule).filter(([, v]) => isObjectClass(v));
  if (found.length === 1) return found[0][1];
  const names = found.map(([n]) => n).join(', ') || 'none';
  throw new Error(`the component exports no Durable Object class named ${wanted} (it exports: ${names})`);
}

/** The `handler` export for the Durable Object class of `module`. */
export function makeHandler(module, className) {
  checkModule(module, className);
  userModule = module;
  builtFor = className;
  return {
    fetch(req) {
      return run((obj) => then(method(obj, 'fetch')(toRequest(req)), fromResponse));
    },
    alarm(info) {
      return run(async (obj) => {
        await method(obj, 'alarm')({
          retryCount: info.retryCount,
          isRetry: info.isRetry,
          scheduledTime: Number(info.scheduledTime),
        });
      });
    },
    websocketMessage(id, msg) {
      return run(async (obj) => {
        const ws = socketFor(id);
        const data = messageData(msg);
        if (usesListeners(ws)) await dispatch(ws, { type: 'message', data });
        else await method(obj, 'webSocketMessage')(ws, data);
      });
    },
    websocketClose(id, code, reason, wasClean) {
      return run(async (obj) => {
        const ws = socketFor(id);
        ws.readyState = 3;
        try {
          if (usesListeners(ws)) await dispatch(ws, { type: 'close', code, reason, wasClean });
          else if (typeof obj.webSocketClose === 'function') {
            await obj.webSocketClose(ws, code, reason, wasClean);
          }
        } finally {
          forgetSocket(id);
        }
      });
    },
    call(name, args) {
      let missing = false;
      return run(
        (obj) => {
          const fn = rpcMethod(obj, name);
          if (fn === null) {
            missing = true;
            throw NO_SUCH_METHOD;
          }
          const decoded = decodeJson(args, `the arguments of ${name}()`);
          return then(fn.apply(obj, decoded), (r) =>
            encodeJson(r === undefined ? null : r, `the result of ${name}()`, 'send'),
          );
        },
        (m) =>
          missing
            ? { tag: 'no-such-method', val: `${Class?.name ?? 'the class'} has no public method ${name}()` }
            : { tag: 'failed', val: typeof m === 'string' ? m : String(m) },
      );
    },
    websocketError(id, error) {
      return run(async (obj) => {
        const ws = socketFor(id);
        const err = new Error(error);
        if (usesListeners(ws)) await dispatch(ws, { type: 'error', error: err, message: error });
        else if (typeof obj.webSocketError === 'function') await obj.webSocketError(ws, err);
      });
    },
  };
}
