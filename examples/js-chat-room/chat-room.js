// A chat room per name over hibernatable WebSockets, in JavaScript with Cloudflare's Durable
// Object API: the same contract as examples/chat-room (Rust), the same page, the same storage
// keys. Written as for Cloudflare; only the build differs.
//
// The host serves each room under /js-chat/{room}; paths below are relative to it. Open
// /js-chat/{room}/ in a browser for the chat page.
//
//   GET /                                the chat page (text/html)
//   GET /ws?name=N, a WebSocket upgrade  101: joins as N (trimmed, 1 to 32 characters)
//   GET /ws without an upgrade           400 {"error": "expected a WebSocket upgrade"}
//   GET /ws with a missing or bad name   400 {"error": "..."}, no socket accepted
//   GET /history                         [message, ...]: the last 100, oldest first
//   anything else                        404 {"error": "not found"}
//
// A stored message is {"name", "text", "timestamp"}; timestamps are milliseconds since the Unix
// epoch. On the socket, every frame is a JSON text message with a `type`:
//
//   client → room    {"type": "message", "text": "..."}, text of 1 to 4096 bytes
//   room → joiner    {"type": "history", "messages": [...]}: the last 50, oldest first
//   room → everyone  {"type": "join", "name", "timestamp"}, the joiner included
//   room → everyone  {"type": "message", "name", "text", "timestamp"}, the sender included
//   room → the rest  {"type": "leave", "name", "timestamp"} when a socket closes (or fails)
//   room → sender    {"type": "error", "message": "..."} for a bad or binary frame
//   client → host    the text `ping`: the host answers `pong` without waking the room
//
// Sockets are accepted hibernatable with the tag `member` and the attachment {"name": N}, so the
// room may leave memory between messages. Messages are stored under msg/{seq:020} (`seq` holds
// the last number); only the last 100 are kept.

import { DurableObject } from 'cloudflare:workers';
// The Rust example's page; it uses relative URLs, so it works under any binding.
import PAGE from '../chat-room/src/page.html';

/** The tag of every accepted socket. */
const MEMBER = 'member';
/** The keep-alive the host answers by itself, and its answer. */
const PING = 'ping';
const PONG = 'pong';
const MSG = 'msg/';
/** The number of the last stored message (messages are numbered from 1). */
const SEQ = 'seq';
const KEEP = 100;
const HISTORY_ON_JOIN = 50;
const MAX_NAME_CHARS = 32;
const MAX_TEXT_BYTES = 4096;
/** The most keys one delete([...]) call may name. */
const DELETE_BATCH = 128;

/** Input the room refuses: answered to the client, never a failed event. */
class Invalid extends Error {}

const error = (status, message) => Response.json({ error: message }, { status });
const msgKey = (seq) => MSG + String(seq).padStart(20, '0');
const encoder = new TextEncoder();

export class ChatRoom extends DurableObject {
  async fetch(request) {
    const url = new URL(request.url);
    const segments = url.pathname.split('/').filter((s) => s !== '');
    if (request.method === 'GET' && segments.length === 0) {
      return new Response(PAGE, { headers: { 'content-type': 'text/html; charset=utf-8' } });
    }
    if (request.method === 'GET' && segments.length === 1 && segments[0] === 'ws') {
      return this.join(request, url);
    }
    if (request.method === 'GET' && segments.length === 1 && segments[0] === 'history') {
      return Response.json(await this.recent(KEEP));
    }
    return error(404, 'not found');
  }

  /** GET /ws: accepts the socket, sends it the history and tells everyone it joined. */
  async join(request, url) {
    if (request.headers.get('upgrade')?.trim().toLowerCase() !== 'websocket') {
      return error(400, 'expected a WebSocket upgrade');
    }
    let name;
    try {
      name = validateName(url.searchParams.get('name'));
    } catch (e) {
      if (e instanceof Invalid) return error(400, e.message);
      throw e;
    }
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server, [MEMBER]);
    // Keep-alives are answered by the host without waking the room.
    this.ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
    server.serializeAttachment({ name });
    const messages = await this.recent(HISTORY_ON_JOIN);
    server.send(JSON.stringify({ type: 'history', messages }));

    const members = this.ctx.getWebSockets(MEMBER);
    if (!members.includes(server)) members.push(server);
    broadcast(members, { type: 'join', name, timestamp: Date.now() });
    return new Response(null, { status: 101, webSocket: client });
  }

  async webSocketMessage(ws, message) {
    let text;
    try {
      if (typeof message !== 'string') {
        throw new Invalid('binary messages are not supported: send JSON text');
      }
      text = parseMessage(message);
    } catch (e) {
      // A bad frame is answered, and the event still succeeds.
      if (e instanceof Invalid) return replyError(ws, e.message);
      throw e;
    }
    const member = ws.deserializeAttachment();
    if (member === null) return replyError(ws, 'this socket has not joined the room');
    if (typeof member.name !== 'string') throw new TypeError('the attachment has no string `name`');
    const chat = { name: member.name, text, timestamp: Date.now() };
    await this.store(chat);
    broadcast(this.ctx.getWebSockets(MEMBER), { type: 'message', ...chat });
  }

  async webSocketClose(ws, code, reason, wasClean) {
    this.leave(ws);
  }

  // Nothing to do: the close event that always follows a failure announces the leave.
  async webSocketError(ws, error) {}

  /** A member's socket closed: tells the others, if its name is still readable. */
  leave(ws) {
    let member;
    try {
      member = ws.deserializeAttachment();
    } catch {
      return;
    }
    if (typeof member?.name !== 'string') return;
    const others = this.ctx.getWebSockets(MEMBER).filter((other) => other !== ws);
    broadcast(others, { type: 'leave', name: member.name, timestamp: Date.now() });
  }

  /** Stores `chat` as the next message and drops all but the last KEEP. */
  async store(chat) {
    const storage = this.ctx.storage;
    const seq = ((await storage.get(SEQ)) ?? 0) + 1;
    await storage.put({ [SEQ]: seq, [msgKey(seq)]: chat });
    if (seq > KEEP) {
      const old = [...(await storage.list({ prefix: MSG, end: msgKey(seq - KEEP + 1) })).keys()];
      for (let i = 0; i < old.length; i += DELETE_BATCH) {
        await storage.delete(old.slice(i, i + DELETE_BATCH));
      }
    }
  }

  /** The last `count` stored messages, oldest first. */
  async recent(count) {
    const newestFirst = await this.ctx.storage.list({ prefix: MSG, reverse: true, limit: count });
    return [...newestFirst.values()].reverse();
  }
}

/**
 * Sends `event` to every socket of `members`. A socket whose connection has just ended is
 * skipped (its close event follows) rather than failing the whole event.
 */
function broadcast(members, event) {
  const text = JSON.stringify(event);
  for (const member of members) {
    try {
      member.send(text);
    } catch {}
  }
}

/** Sends {"type": "error", "message": ...} to `ws` alone; the event succeeds. */
function replyError(ws, message) {
  try {
    ws.send(JSON.stringify({ type: 'error', message }));
  } catch {}
}

/** The `name` query parameter, trimmed: 1 to 32 characters; otherwise throws what is wrong. */
function validateName(name) {
  if (name === null) throw new Invalid('the query parameter `name` is required');
  const trimmed = name.trim();
  const chars = [...trimmed].length;
  if (chars === 0 || chars > MAX_NAME_CHARS) {
    throw new Invalid(`name must be 1 to ${MAX_NAME_CHARS} characters`);
  }
  return trimmed;
}

/** The text of a {"type": "message", "text": "..."} frame; otherwise throws what is wrong. */
function parseMessage(frame) {
  let value;
  try {
    value = JSON.parse(frame);
  } catch (e) {
    throw new Invalid(`invalid JSON: ${e.message}`);
  }
  const isObject = value !== null && typeof value === 'object' && !Array.isArray(value);
  const field = (key) => (isObject && Object.hasOwn(value, key) ? value[key] : undefined);
  const type = field('type');
  if (typeof type !== 'string') throw new Invalid('a message needs a string `type`');
  if (type !== 'message') throw new Invalid(`unknown message type \`${type}\``);
  const text = field('text');
  if (typeof text !== 'string') throw new Invalid('a message needs a string `text`');
  // A \uD800-style escape of half a surrogate pair is not Unicode: other SDKs could not read it.
  if (!text.isWellFormed()) throw new Invalid('invalid JSON: `text` has a lone surrogate escape');
  if (text === '' || encoder.encode(text).length > MAX_TEXT_BYTES) {
    throw new Invalid(`text must be 1 to ${MAX_TEXT_BYTES} bytes`);
  }
  return text;
}
