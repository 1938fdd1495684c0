// A chat room over hibernatable WebSockets. The Worker forwards /room/:room/* here unchanged.
//
//   GET .../websocket?name=N   a WebSocket upgrade: joins as N; every text message is sent to
//                              everyone in the room as {"name", "text", "at"}
//   GET .../messages           the last 100 messages, oldest first

import { DurableObject } from 'cloudflare:workers';

interface Message {
  name: string;
  text: string;
  at: number;
}

const KEEP = 100;

export class ChatRoom extends DurableObject {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname.endsWith('/websocket')) {
      if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket') {
        return Response.json({ error: 'expected a WebSocket upgrade' }, { status: 426 });
      }
      const name = (url.searchParams.get('name') ?? '').trim() || 'anonymous';
      const { 0: client, 1: server } = new WebSocketPair();
      this.ctx.acceptWebSocket(server, ['member']);
      server.serializeAttachment({ name });
      return new Response(null, { status: 101, webSocket: client });
    }
    if (url.pathname.endsWith('/messages')) {
      return Response.json((await this.ctx.storage.get<Message[]>('messages')) ?? []);
    }
    return Response.json({ error: 'not found' }, { status: 404 });
  }

  async webSocketMessage(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    const { name } = ws.deserializeAttachment() as { name: string };
    const message: Message = { name, text: String(data), at: Date.now() };
    const messages = (await this.ctx.storage.get<Message[]>('messages')) ?? [];
    messages.push(message);
    await this.ctx.storage.put('messages', messages.slice(-KEEP));
    const frame = JSON.stringify(message);
    for (const peer of this.ctx.getWebSockets('member')) peer.send(frame);
  }

  async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    ws.close(code === 1005 ? 1000 : code, 'bye');
  }
}
