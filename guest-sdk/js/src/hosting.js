// One instance of the component may host many objects of a class (as a workerd isolate does).
// The host numbers the objects it places here (slots); each event starts by asking which one it
// is for (`hosting-context.slot`, an import: cheaper than being told through an export call).
// Everything the SDK keeps for an object (its class instance and `ctx`, what it knows of its
// keys, its WebSocket objects) lives in that slot's record, so objects never see each other's.
// The `hosting` export's `forget(slot)` drops a record: the object's next event, wherever it
// runs, constructs it anew.

import { slot as runningSlot } from 'holdfast:object/hosting-context@0.1.0';
import { useKnown } from './storage.js';
import { useSockets } from './websocket.js';

const slots = new Map();

function record() {
  return { instance: null, state: null, known: new Map(), sockets: new Map() };
}

/** The running object's record. */
export let current = record();
let currentSlot = null;

function use(r, slot) {
  current = r;
  currentSlot = slot;
  useKnown(r.known);
  useSockets(r.sockets);
}

/** Makes the record of the object whose event is starting the current one. */
export function enterRunning() {
  const slot = runningSlot();
  if (slot === currentSlot) return;
  let r = slots.get(slot);
  if (r === undefined) {
    r = record();
    slots.set(slot, r);
  }
  use(r, slot);
}

export const hosting = {
  forget(slot) {
    const r = slots.get(slot);
    slots.delete(slot);
    // Nothing of a forgotten object stays reachable, even before the next event.
    if (r !== undefined && r === current) use(record(), null);
  },
};
