// The Cloudflare globals that the platform lacks, installed before the user's module runs.

import { Response } from './http.js';
import { fetch } from './outbound.js';
import { WebSocket, WebSocketPair, WebSocketRequestResponsePair } from './websocket.js';

globalThis.Response = Response;
globalThis.fetch = fetch;
globalThis.WebSocket = WebSocket;
globalThis.WebSocketPair = WebSocketPair;
globalThis.WebSocketRequestResponsePair = WebSocketRequestResponsePair;
