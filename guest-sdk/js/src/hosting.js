// The component's `hosting` export: one instance of the component hosts many objects of a class
// (as a workerd isolate does). The host numbers the objects it places here (slots) and calls
// `enter(slot)` before an event for an object other than the last one; everything the SDK keeps
// for an object (its class instance and `ctx`, what it knows of its keys, its WebSocket objects)
// lives in that slot's record, so objects never see each other's. `forget(slot)` drops the
// record: the object's next event, wherever it runs, constructs it anew.

import { useKnown } from './storage.js';
import { useSockets } from './websocket.js';

const slots = new Map();

function record() {
  return { instance: null, state: null, known: new Map(), sockets: new Map() };
}

/** The running object's record (a component hosting one object uses this one alone). */
export let current = record();

function use(r) {
  current = r;
  useKnown(r.known);
  useSockets(r.sockets);
}

export const hosting = {
  enter(slot) {
    let r = slots.get(slot);
    if (r === undefined) {
      r = record();
      slots.set(slot, r);
    }
    use(r);
  },
  forget(slot) {
    const r = slots.get(slot);
    slots.delete(slot);
    // Nothing of a forgotten object stays reachable, even before the next `enter`.
    if (r !== undefined && r === current) use(record());
  },
};
