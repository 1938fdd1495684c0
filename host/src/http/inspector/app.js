// Holdfast storage inspector: a dependency-free front-end for the `/_/admin` JSON API.
// - Server data reaches the DOM only through textContent and attributes, never as HTML.
// - The admin token lives in sessionStorage and is sent only as `Authorization: Bearer …`.
// - Every state-changing request carries `Content-Type: application/json` and a JSON body.
'use strict';

const TOKEN_KEY = 'holdfast-admin-token';
const POLL_MS = 1000;
const CHART_POINTS = 60;
const PREVIEW_CHARS = 2000;
const PAGE_SIZE = 50;
const TABLES_QUERY = "SELECT name, sql FROM sqlite_master WHERE type = 'table' " +
  "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY name";
const SVG_NS = 'http://www.w3.org/2000/svg';

/** Mutable page state. The *Seq counters let answers to superseded requests be dropped. */
const state = {
  binding: null, search: '', objectsNext: null, objectsSeq: 0, // namespace and object listing
  object: null,                                                 // the open object {binding, id, name}
  keyPrefix: '', keysNext: null, keysSeq: 0, editingKey: null,  // its keys and the key in #editor
  historyBefore: null,                                          // the next page of its history
  pollGen: 0, pollTimer: null, lastStats: null,                 // the stats loop (bump pollGen to stop)
  series: { events: [], commit: [], live: [] },
};

// ---------------------------------------------------------------- DOM helpers and formatting

const $ = (selector) => document.querySelector(selector);

/** Creates an element. `props`: text, className, dataset, or any attribute; children: nodes or strings. */
function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (name === 'text') node.textContent = value;
    else if (name === 'className') node.className = value;
    else if (name === 'dataset') Object.assign(node.dataset, value);
    else node.setAttribute(name, value);
  }
  node.append(...children); // strings become text nodes
  return node;
}

function svgEl(tag, attrs = {}) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

const thead = (labels) => el('thead', {}, [el('tr', {}, labels.map((text) => el('th', { text })))]);
const note = (text) => el('p', { className: 'note', text });
const pad = (n, width = 2) => String(n).padStart(width, '0');
const isNone = (v) => v === null || v === undefined;
const formatLocal = (ms) => (isNone(ms) ? '—' : new Date(ms).toLocaleString());
const prettyJson = (value) => JSON.stringify(value === undefined ? null : value, null, 2);
/** Quotes an SQL identifier, doubling any `"`. */
const quoteIdent = (name) => `"${String(name).replace(/"/g, '""')}"`;

function formatBytes(n) {
  if (!Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  const i = n < 1024 ? 0 : Math.min(units.length - 1, Math.floor(Math.log2(n) / 10));
  const v = n / 1024 ** i;
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** "HH:MM:SS.mmm" in local time. */
const formatClock = (ms) => `${new Date(ms).toTimeString().slice(0, 8)}.${pad(new Date(ms).getMilliseconds(), 3)}`;
/** ms since the epoch → "YYYY-MM-DDTHH:MM:SS", the local wall time a datetime-local input shows. */
const toLocalInput = (ms) => new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
/** A datetime-local value → ms since the epoch (ECMAScript reads a date-time without offset as local). */
const parseLocalInput = (text) => (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(text) ? new Date(text).getTime() : NaN);

/** A <pre> of `text`, cut past PREVIEW_CHARS with a "show all" / "show less" toggle. */
function valueBlock(text) {
  const pre = el('pre', { className: 'json', text });
  const box = el('div', { className: 'value-box' }, [pre]);
  if (text.length <= PREVIEW_CHARS) return box;
  let expanded = false;
  const toggle = el('button', { type: 'button', className: 'toggle link' });
  const paint = () => {
    pre.textContent = expanded ? text : `${text.slice(0, PREVIEW_CHARS)}…`;
    toggle.textContent = expanded ? 'show less' : `show all (${text.length.toLocaleString()} chars)`;
  };
  toggle.addEventListener('click', () => { expanded = !expanded; paint(); });
  paint();
  box.append(toggle);
  return box;
}

// ---------------------------------------------------------------- status and API

function setStatus(message, kind = 'ok') {
  Object.assign($('#status'), { textContent: message, className: message ? kind : '' });
}

/** Thrown for answers that arrive after a sign-out; they are dropped silently. */
class StaleError extends Error {}

/** An API or network error; `status` is the HTTP status (0 for a network failure). */
class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

/** Runs an async action, disabling `button` meanwhile; any error it throws goes to #status. */
async function run(action, button) {
  if (button) button.disabled = true;
  try {
    await action();
  } catch (err) {
    if (!(err instanceof StaleError)) setStatus(err && err.message ? err.message : String(err), 'error');
  } finally {
    if (button) button.disabled = false;
  }
}

const storedToken = () => sessionStorage.getItem(TOKEN_KEY);
const enc = encodeURIComponent;

/** Calls the admin API and answers its JSON; throws ApiError with the server's message. */
async function api(method, path, body) {
  const token = storedToken();
  if (!token) throw new StaleError('signed out');
  const headers = { Authorization: `Bearer ${token}`, Accept: 'application/json' };
  const init = { method, headers, cache: 'no-store' };
  if (method !== 'GET') {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body === undefined ? {} : body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(`network error: ${err.message}`, 0);
  }
  if (storedToken() !== token) throw new StaleError('signed out');
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const message = data && typeof data.error === 'string' ? data.error
      : `${response.status} ${response.statusText}`.trim();
    if (response.status === 401) signOut(message);
    throw new ApiError(message, response.status);
  }
  if (data === null || typeof data !== 'object') throw new ApiError('the server did not answer JSON', response.status);
  return data;
}

/** Adds the non-empty parameters to `path` as a query string. */
function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (!isNone(value) && value !== '') query.set(name, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/** The API path of an object: by name when it has one, else by ID. */
function objectPath(obj, suffix = '') {
  const byName = typeof obj.name === 'string' && obj.name !== '';
  return `/_/admin/${byName ? 'objects' : 'ids'}/${enc(obj.binding)}/${enc(byName ? obj.name : obj.id)}${suffix}`;
}

const objectLabel = (obj) => `${obj.binding}/${obj.name || obj.id}`;

// ---------------------------------------------------------------- session

function signIn() {
  const input = $('#token');
  const token = input.value.trim();
  if (!token) {
    $('#signin-error').textContent = 'enter the admin token';
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  input.value = ''; // from here on the token is only in sessionStorage
  enterApp();
}

function enterApp() {
  $('#signin').hidden = true;
  $('#app').hidden = false;
  $('#signin-error').textContent = '';
  setStatus('');
  startPolling();
  run(async () => { await loadNamespaces(); setStatus('signed in'); });
}

/** Forgets the token and returns to the sign-in form, showing `message` (e.g. a 401's error). */
function signOut(message = '') {
  sessionStorage.removeItem(TOKEN_KEY);
  stopPolling();
  resetApp();
  $('#app').hidden = true;
  $('#signin').hidden = false;
  $('#signin-error').textContent = message;
  setStatus(message, 'error');
  $('#token').focus();
}

/** Clears everything shown about the host, so nothing lingers after a sign-out. */
function resetApp() {
  Object.assign(state, { binding: null, search: '', objectsNext: null, object: null, keyPrefix: '', keysNext: null });
  state.objectsSeq += 1;
  state.keysSeq += 1;
  $('#namespaces').replaceChildren();
  $('#objects tbody').replaceChildren();
  $('#objects-binding').textContent = '';
  Object.assign($('#objects-empty'), { textContent: 'choose a namespace', hidden: false });
  $('#objects-more').hidden = true;
  closeObject();
  resetCharts();
}

// ---------------------------------------------------------------- namespaces and objects

async function loadNamespaces() {
  const list = (await api('GET', '/_/admin/namespaces')).namespaces || [];
  $('#namespaces').replaceChildren(...list.map(namespaceButton));
  if (!list.length) $('#namespaces').append(note('no namespaces configured'));
}

function namespaceButton(ns) {
  return el('button', {
    type: 'button',
    className: ns.binding === state.binding ? 'ns selected' : 'ns',
    dataset: { binding: ns.binding },
    title: `namespace ${ns.namespace}, class ${ns.class}`,
  }, [
    el('span', { className: 'ns-binding', text: ns.binding }),
    el('span', { className: 'ns-class', text: ns.class }),
    el('span', { className: ns.live > 0 ? 'ns-live on' : 'ns-live', text: `${ns.live} live` }),
  ]);
}

async function selectNamespace(binding) {
  state.binding = binding;
  for (const button of document.querySelectorAll('#namespaces button[data-binding]')) {
    button.classList.toggle('selected', button.dataset.binding === binding);
  }
  $('#objects-binding').textContent = binding;
  await loadObjects(true);
}

/** Loads the first page of objects (reset) or the next one. */
async function loadObjects(reset) {
  const binding = state.binding;
  if (!binding) throw new Error('choose a namespace first');
  if (reset) state.search = $('#search').value;
  const ticket = ++state.objectsSeq;
  const after = reset ? null : state.objectsNext;
  const data = await api('GET', withQuery(`/_/admin/namespaces/${enc(binding)}/objects`,
    { prefix: state.search, after, limit: PAGE_SIZE }));
  if (ticket !== state.objectsSeq) return; // superseded by a newer listing
  const body = $('#objects tbody');
  if (reset) body.replaceChildren();
  body.append(...(data.objects || []).map((obj) => objectRow(obj, binding)));
  state.objectsNext = data.next ?? null;
  $('#objects-more').hidden = state.objectsNext === null;
  $('#objects-empty').textContent = state.search ? `no object name starts with “${state.search}”` : 'no objects';
  $('#objects-empty').hidden = body.rows.length > 0;
}

/** One row of #objects; `obj.sockets` is a count in listings and an array in object details. */
function objectRow(obj, binding) {
  const sockets = Array.isArray(obj.sockets) ? obj.sockets.length : (obj.sockets ?? 0);
  const [kv, sql] = [obj.kv_bytes ?? 0, obj.sql_bytes ?? 0];
  const row = el('tr', { tabindex: '0', dataset: { objectId: obj.id, name: obj.name ?? '', binding } }, [
    el('td', { className: obj.name ? 'mono' : 'mono muted', text: obj.name || '—' }),
    el('td', { className: 'mono', title: obj.id, text: obj.id.slice(0, 12) }),
    el('td', { className: obj.live ? 'c live on' : 'c live', title: obj.live ? 'in memory' : 'not in memory', text: obj.live ? '●' : '○' }),
    el('td', { className: 'num', title: `KV ${kv} B, SQL ${sql} B`, text: formatBytes(kv + sql) }),
    el('td', { className: 'num', text: String(obj.kv_keys ?? 0) }),
    el('td', { className: 'num', text: String(sockets) }),
    el('td', { className: 'nowrap', title: isNone(obj.alarm) ? null : String(obj.alarm), text: formatLocal(obj.alarm) }),
  ]);
  if (state.object && state.object.id === obj.id) row.classList.add('selected');
  return row;
}

/** Refreshes an object's listing row from its freshly loaded details. */
function updateObjectRow(info) {
  const row = $(`#objects tr[data-object-id="${CSS.escape(info.id)}"]`);
  if (row) row.replaceWith(objectRow(info, row.dataset.binding));
}

// ---------------------------------------------------------------- the open object

async function openObject(ref) {
  const obj = { binding: ref.binding, id: ref.id, name: ref.name || null };
  state.object = obj;
  for (const row of document.querySelectorAll('#objects tr[data-object-id]')) {
    row.classList.toggle('selected', row.dataset.objectId === obj.id);
  }
  stopEdit();
  $('#object').hidden = false;
  $('#object-placeholder').hidden = true;
  $('#object-title').textContent = objectLabel(obj);
  $('#object-id').textContent = obj.id;
  for (const id of ['#object-live', '#object-storage', '#alarm-current']) $(id).textContent = '…';
  for (const id of ['#key-prefix', '#alarm-at', '#sql-query', '#new-key', '#new-value', '#restore-at',
    '#fork-binding', '#fork-name']) $(id).value = '';
  for (const id of ['#sql-tables', '#sql-result', '#sockets', '#logs', '#keys tbody', '#history tbody']) {
    $(id).replaceChildren();
  }
  $('#keys-more').hidden = true;
  $('#keys-empty').hidden = true;
  await refreshObject();
}

function closeObject() {
  stopEdit();
  $('#object').hidden = true;
  $('#object-placeholder').hidden = false;
}

/** Reloads the open object's details and its first page of keys. */
const refreshObject = () => Promise.all([loadObject(), loadKeys(true), loadHistory(true)]);

async function loadObject() {
  const obj = state.object;
  const info = await api('GET', objectPath(obj));
  if (state.object !== obj) return; // another object was opened meanwhile
  obj.id = info.id;
  $('#object-title').textContent = objectLabel({ binding: info.binding || obj.binding, id: info.id, name: info.name });
  $('#object-id').textContent = info.id;
  const live = $('#object-live');
  live.textContent = info.live ? '● live (in memory)' : '○ not in memory';
  live.className = info.live ? 'live on' : 'live';
  $('#object-storage').textContent =
    `${info.kv_keys} keys · ${formatBytes(info.kv_bytes)} KV · ${formatBytes(info.sql_bytes)} SQL`;
  renderAlarm(info.alarm);
  renderSockets(info.sockets || []);
  renderLogs(info.logs || []);
  updateObjectRow(info);
  await loadTables(info);
}

async function evictObject() {
  const result = await api('POST', objectPath(state.object, '/evict'), {});
  setStatus(result.evicted ? 'object evicted from memory'
    : `not evicted (${result.live ? 'still live' : 'it was not in memory'})`);
  await Promise.all([loadObject(), loadNamespaces()]);
}

// ---------------------------------------------------------------- keys

async function loadKeys(reset) {
  const obj = state.object;
  if (reset) [state.keyPrefix, state.keysNext] = [$('#key-prefix').value, null];
  const ticket = ++state.keysSeq;
  const data = await api('GET', withQuery(objectPath(obj, '/keys'),
    { prefix: state.keyPrefix, after: state.keysNext, limit: PAGE_SIZE }));
  if (state.object !== obj || ticket !== state.keysSeq) return;
  const body = $('#keys tbody');
  if (reset) body.replaceChildren();
  body.append(...(data.keys || []).map(keyRow));
  state.keysNext = data.next ?? null;
  $('#keys-more').hidden = state.keysNext === null;
  $('#keys-empty').textContent = state.keyPrefix ? `no key starts with “${state.keyPrefix}”` : 'no keys';
  $('#keys-empty').hidden = body.rows.length > 0;
}

function keyRow(entry) {
  const value = entry.json ? [valueBlock(prettyJson(entry.value))]
    : [note(`${entry.bytes} bytes (not JSON), base64:`), valueBlock(entry.base64 || '')];
  const edit = el('button', { type: 'button', className: 'edit small', text: 'Edit' });
  if (entry.json) edit.addEventListener('click', () => startEdit(entry.key, entry.value));
  else Object.assign(edit, { disabled: true, title: 'the value is not JSON; it is read-only here' });
  const del = el('button', { type: 'button', className: 'delete small danger', text: 'Delete' });
  del.addEventListener('click', () => run(() => deleteKey(entry.key), del));
  return el('tr', { dataset: { key: entry.key } }, [
    el('td', { className: 'mono key', text: entry.key }),
    el('td', { className: 'value' }, value),
    el('td', { className: 'num', text: String(entry.bytes) }),
    el('td', { className: 'actions' }, [edit, del]),
  ]);
}

function startEdit(key, value) {
  state.editingKey = key;
  $('#editor-key').textContent = key;
  $('#value-editor').value = prettyJson(value);
  $('#editor').hidden = false;
  $('#editor').scrollIntoView({ block: 'nearest' });
  $('#value-editor').focus();
}

function stopEdit() {
  state.editingKey = null;
  $('#editor').hidden = true;
  $('#value-editor').value = '';
  $('#editor-key').textContent = '';
}

/** Parses a textarea as JSON; throws "the value is not JSON: …" (shown in #status) otherwise. */
function parseJsonField(selector) {
  try {
    return JSON.parse($(selector).value);
  } catch (err) {
    throw new Error(`the value is not JSON: ${err.message}`);
  }
}

/** POSTs a storage change ({put, delete}) and reports it in #status. */
async function postStorage(change, message) {
  const result = await api('POST', objectPath(state.object, '/storage'), change);
  setStatus(`${message} (${result.put ?? 0} put, ${result.deleted ?? 0} deleted)`);
}

async function saveEdit() {
  const key = state.editingKey;
  if (key === null) return;
  const value = parseJsonField('#value-editor');
  await postStorage({ put: { [key]: value } }, `saved “${key}”`);
  stopEdit();
  await refreshObject();
}

async function deleteKey(key) {
  await postStorage({ delete: [key] }, `deleted “${key}”`);
  if (state.editingKey === key) stopEdit();
  await refreshObject();
}

async function addKey() {
  const key = $('#new-key').value;
  if (!key) throw new Error('enter a key to add');
  const value = parseJsonField('#new-value');
  await postStorage({ put: { [key]: value } }, `added “${key}”`);
  $('#new-key').value = '';
  $('#new-value').value = '';
  await refreshObject();
}

// ---------------------------------------------------------------- alarm

function renderAlarm(ms) {
  $('#alarm-current').textContent = isNone(ms) ? 'no alarm' : `${formatLocal(ms)} (${ms})`;
  const input = $('#alarm-at');
  if (!input.value) input.value = toLocalInput(ms ?? Date.now() + 60_000); // a starting point to edit
}

async function loadAlarm() {
  const obj = state.object;
  const data = await api('GET', objectPath(obj, '/alarm'));
  if (state.object === obj) renderAlarm(data.alarm);
}

async function setAlarm() {
  const ms = parseLocalInput($('#alarm-at').value);
  if (!Number.isFinite(ms)) throw new Error('choose a valid date and time for the alarm');
  await api('PUT', objectPath(state.object, '/alarm'), { alarm: ms });
  setStatus(`alarm set for ${formatLocal(ms)} (${ms})`);
  await loadAlarm();
}

async function deleteAlarm() {
  await api('DELETE', objectPath(state.object, '/alarm'), {});
  setStatus('alarm deleted');
  await loadAlarm();
}

async function runAlarm() {
  const result = await api('POST', objectPath(state.object, '/alarm/run'), {});
  setStatus(result.ran ? `alarm ran (it was scheduled for ${formatLocal(result.scheduled_time)})`
    : `alarm did not run: ${result.reason || 'no reason given'}`);
  await Promise.all([loadAlarm(), refreshObject()]); // the handler may have changed storage
}

// ---------------------------------------------------------------- SQL

/** Lists the object's tables as buttons in #sql-tables (or says there is no database). */
async function loadTables(info) {
  const box = $('#sql-tables');
  if (!(info.sql_bytes > 0)) {
    box.replaceChildren(note('no SQL database'));
    return;
  }
  const obj = state.object;
  const result = await api('POST', objectPath(obj, '/sql'), { query: TABLES_QUERY, params: [] });
  if (state.object !== obj) return;
  const columns = result.columns || [];
  const [nameCol, sqlCol] = [Math.max(0, columns.indexOf('name')), columns.indexOf('sql')];
  const buttons = (result.rows || []).map((row) => el('button', {
    type: 'button',
    className: 'table-name small',
    dataset: { table: String(row[nameCol]) },
    title: sqlCol >= 0 && !isNone(row[sqlCol]) ? String(row[sqlCol]) : null,
    text: String(row[nameCol]),
  }));
  if (buttons.length) box.replaceChildren(el('span', { className: 'muted', text: 'Tables:' }), ...buttons);
  else box.replaceChildren(note('no tables'));
}

async function runSql() {
  const query = $('#sql-query').value;
  if (!query.trim()) throw new Error('enter an SQL query');
  const obj = state.object;
  const result = await api('POST', objectPath(obj, '/sql'), { query, params: [] });
  if (state.object !== obj) return;
  setStatus(`query ran: ${renderSqlResult(result)}`);
  if (result.rows_written > 0) await loadObject(); // sizes and tables may have changed
}

/** Shows a query result in #sql-result and answers its "n rows read, m written" summary. */
function renderSqlResult(result) {
  const [columns, rows] = [result.columns || [], result.rows || []];
  const summary = `${result.rows_read ?? 0} rows read, ${result.rows_written ?? 0} written`;
  const parts = [];
  if (columns.length) {
    const body = el('tbody', {}, rows.map((row) => el('tr', {}, row.map(sqlCell))));
    parts.push(el('div', { className: 'table-wrap' }, [el('table', { className: 'grid' }, [thead(columns), body])]));
  }
  parts.push(note(`${rows.length} rows returned · ${summary}`));
  $('#sql-result').replaceChildren(...parts);
  return summary;
}

function sqlCell(value) {
  if (isNone(value)) return el('td', { className: 'mono null', text: 'NULL' });
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  return el('td', { className: typeof value === 'number' ? 'mono num' : 'mono', text });
}

/** Clicking a table name fills the query box with a SELECT of it. */
function pickTable(name) {
  $('#sql-query').value = `SELECT * FROM ${quoteIdent(name)} LIMIT 100`;
  $('#sql-query').focus();
}

// ---------------------------------------------------------------- sockets and logs

// ---------------------------------------------------------------- history

/** Loads the open object's commits, newest first (a page at a time). */
async function loadHistory(reset) {
  const obj = state.object;
  if (reset) state.historyBefore = null;
  const page = await api('GET', withQuery(objectPath(obj, '/bookmarks'),
    { limit: 20, before: reset ? null : state.historyBefore }));
  if (state.object !== obj) return;
  $('#history-current').textContent = page.current;
  $('#history-kept').textContent = isNone(page.retention_seconds) ? '(history is off on this server)'
    : `(kept ${Math.round(page.retention_seconds / 86400 * 10) / 10} days)`;
  const body = $('#history tbody');
  if (reset) body.replaceChildren();
  for (const point of page.history) body.append(historyRow(point));
  state.historyBefore = page.next;
  $('#history-more').hidden = isNone(page.next);
  $('#history-empty').hidden = body.children.length > 0;
}

function historyRow(point) {
  const changed = [];
  if (point.keys) changed.push(`${point.keys} key${point.keys === 1 ? '' : 's'}`);
  if (point.sql_rows) changed.push(`${point.sql_rows} SQL piece${point.sql_rows === 1 ? '' : 's'}`);
  if (point.alarm) changed.push('alarm');
  const back = el('button', { type: 'button', className: 'small danger', text: 'Restore to before' });
  back.addEventListener('click', () => run(() => restoreObject({ bookmark: point.before }), back));
  return el('tr', { dataset: { bookmark: point.before } }, [
    el('td', { className: 'mono', text: new Date(point.time_ms).toISOString() }),
    el('td', { text: changed.join(', ') || '—' }),
    el('td', {}, [back]),
  ]);
}

/** Restores the open object (`{bookmark}` or `{time}`), then shows what it holds now. */
async function restoreObject(to) {
  const result = await api('POST', objectPath(state.object, '/restore'), to);
  setStatus(`restored to ${result.restored_to}; undo with ${result.undo}`);
  await Promise.all([refreshObject(), loadHistory(true)]);
}

async function restoreToTime() {
  const at = $('#restore-at').value;
  if (!at) throw new Error('choose the time to restore the object to');
  await restoreObject({ time: new Date(at).getTime() });
}

async function forkObject() {
  const name = $('#fork-name').value.trim();
  if (!name) throw new Error('name the object to fork into');
  const binding = $('#fork-binding').value.trim();
  const to = binding ? { binding, name } : { name };
  const result = await api('POST', objectPath(state.object, '/fork'), { to });
  setStatus(`forked into ${result.to.binding}/${name} (its undo bookmark: ${result.undo})`);
  await loadNamespaces();
}

function renderSockets(sockets) {
  if (!sockets.length) {
    $('#sockets').replaceChildren(note('no open WebSockets'));
    return;
  }
  const rows = sockets.map((s) => el('tr', { dataset: { socketId: String(s.id) } }, [
    el('td', { className: 'mono num', text: String(s.id) }),
    el('td', { className: 'mono', text: (s.tags || []).join(', ') || '—' }),
    el('td', { className: 'value' }, [valueBlock(prettyJson(s.attachment ?? null))]),
    el('td', { text: s.hibernatable ? 'yes' : 'no' }),
  ]));
  const head = thead(['ID', 'Tags', 'Attachment', 'Hibernatable']);
  const table = el('table', { className: 'grid' }, [head, el('tbody', {}, rows)]);
  $('#sockets').replaceChildren(el('div', { className: 'table-wrap' }, [table]));
}

/** Shows log lines as "HH:MM:SS.mmm [stream] text", newest last, scrolled to the end. */
function renderLogs(logs) {
  const pre = $('#logs');
  const lines = [...logs].sort((a, b) => a.seq - b.seq);
  if (!lines.length) {
    pre.replaceChildren(el('span', { className: 'muted', text: 'no log lines' }));
    return;
  }
  const nodes = lines.flatMap((line, i) => {
    const text = `${formatClock(line.time_ms)} [${line.stream}] ${String(line.text).replace(/\r?\n$/, '')}`;
    const span = el('span', { className: line.stream === 'stderr' ? 'stderr' : 'stdout', title: line.label, text });
    return i > 0 ? ['\n', span] : [span];
  });
  pre.replaceChildren(...nodes);
  pre.scrollTop = pre.scrollHeight;
}

async function refreshLogs() {
  const obj = state.object;
  const info = await api('GET', objectPath(obj));
  if (state.object !== obj) return;
  renderLogs(info.logs || []);
  setStatus(`${(info.logs || []).length} log lines`);
}

// ---------------------------------------------------------------- stats charts

const CHARTS = {
  events: { title: 'Events per second', format: (v) => v.toFixed(1) },
  commit: { title: 'Mean commit latency (ms)', format: (v) => v.toFixed(2) },
  live: { title: 'Live objects', format: (v) => String(Math.round(v)) },
};

/** Polls /_/admin/stats every POLL_MS until stopPolling() (on sign-out or a 401). */
function startPolling() {
  stopPolling();
  resetCharts();
  const gen = state.pollGen;
  const tick = async () => {
    try {
      const stats = await api('GET', '/_/admin/stats');
      if (gen !== state.pollGen) return;
      addStats(stats);
      $('#charts').classList.remove('stale');
      $('#charts-status').textContent = '';
    } catch (err) {
      if (gen !== state.pollGen || err instanceof StaleError) return;
      $('#charts').classList.add('stale'); // keep polling: the host may come back
      $('#charts-status').textContent = `stats unavailable: ${err.message}`;
    }
    if (gen === state.pollGen) state.pollTimer = setTimeout(tick, POLL_MS);
  };
  tick();
}

function stopPolling() {
  state.pollGen += 1;
  clearTimeout(state.pollTimer);
  state.pollTimer = null;
}

function pushSample(name, value) {
  const series = state.series[name];
  series.push(Number.isFinite(value) ? value : 0);
  if (series.length > CHART_POINTS) series.splice(0, series.length - CHART_POINTS);
}

/** Turns a stats sample into chart points (rates need the previous sample) and redraws. */
function addStats(stats) {
  const prev = state.lastStats;
  state.lastStats = stats;
  pushSample('live', Number(stats.live_objects));
  const dt = prev ? stats.time_ms - prev.time_ms : 0;
  const dEvents = prev ? stats.events_total - prev.events_total : -1;
  if (dt > 0 && dEvents >= 0) { // skips the first sample and intervals across a host restart
    const dCommits = stats.commits_total - prev.commits_total;
    const dMicros = stats.commit_micros_total - prev.commit_micros_total;
    pushSample('events', (dEvents * 1000) / dt);
    pushSample('commit', dCommits > 0 ? dMicros / dCommits / 1000 : 0);
  }
  for (const name of Object.keys(CHARTS)) drawChart(name);
}

/** Draws one chart as an SVG polyline, the newest sample at the right edge. */
function drawChart(name) {
  const svg = $(`svg[data-chart="${name}"]`);
  const figure = svg.closest('.chart');
  const values = state.series[name];
  const { title, format } = CHARTS[name];
  const [width, height, margin] = [240, 48, 3];
  const max = Math.max(0, ...values) || 1;
  const step = width / (CHART_POINTS - 1);
  const offset = CHART_POINTS - values.length;
  const points = values.map((v, i) => {
    const y = height - margin - (v / max) * (height - 2 * margin);
    return `${((offset + i) * step).toFixed(1)},${y.toFixed(1)}`;
  }).join(' ');
  const latest = values.length ? format(values[values.length - 1]) : '—';
  const titleNode = svgEl('title');
  titleNode.textContent = `${title}: latest ${latest}, max ${format(max)} over the last ${values.length} samples`;
  svg.replaceChildren(titleNode,
    svgEl('line', { x1: 0, y1: height - margin, x2: width, y2: height - margin, class: 'axis' }),
    svgEl('polyline', { points, class: 'line' }));
  figure.querySelector('.chart-value').textContent = latest;
  figure.querySelector('.chart-max').textContent = values.length ? `max ${format(max)}` : '';
}

function resetCharts() {
  state.series = { events: [], commit: [], live: [] };
  state.lastStats = null;
  for (const name of Object.keys(CHARTS)) drawChart(name);
  $('#charts-status').textContent = '';
  $('#charts').classList.remove('stale');
}

// ---------------------------------------------------------------- wiring

/** Runs `action` on a click of `selector`, with the button disabled meanwhile. */
function onClick(selector, action) {
  const button = $(selector);
  button.addEventListener('click', () => run(action, button));
}

/** Runs `action` on Enter in an input (Ctrl/Cmd+Enter when `withModifier`, for textareas). */
function onEnter(selector, action, withModifier = false) {
  $(selector).addEventListener('keydown', (event) => {
    if (event.key !== 'Enter' || event.isComposing) return;
    if (withModifier && !(event.ctrlKey || event.metaKey)) return;
    event.preventDefault();
    run(action);
  });
}

/** Runs `handler(match)` for clicks (or Enter) inside `container` on an element matching `selector`. */
function delegate(container, selector, handler, withEnter = false) {
  const listener = (event) => {
    const match = event.target.closest(selector);
    if (match && (event.type === 'click' || event.key === 'Enter')) handler(match);
  };
  $(container).addEventListener('click', listener);
  if (withEnter) $(container).addEventListener('keydown', listener);
}

function bindEvents() {
  $('#login').addEventListener('click', signIn);
  $('#token').addEventListener('keydown', (event) => { if (event.key === 'Enter') signIn(); });
  $('#logout').addEventListener('click', () => signOut());
  $('#cancel-edit').addEventListener('click', stopEdit);
  $('#value-editor').addEventListener('keydown', (event) => { if (event.key === 'Escape') stopEdit(); });

  delegate('#namespaces', 'button[data-binding]', (b) => run(() => selectNamespace(b.dataset.binding)));
  delegate('#objects tbody', 'tr[data-object-id]', (row) => run(() => openObject(
    { binding: row.dataset.binding, id: row.dataset.objectId, name: row.dataset.name })), true);
  delegate('#sql-tables', 'button[data-table]', (b) => pickTable(b.dataset.table));

  const clicks = {
    '#search-go': () => loadObjects(true),
    '#objects-more': () => loadObjects(false),
    '#refresh-object': async () => { await refreshObject(); setStatus('object reloaded'); },
    '#evict': evictObject,
    '#key-filter': () => loadKeys(true),
    '#keys-more': () => loadKeys(false),
    '#save-value': saveEdit,
    '#add-key': addKey,
    '#set-alarm': setAlarm,
    '#delete-alarm': deleteAlarm,
    '#run-alarm': runAlarm,
    '#run-sql': runSql,
    '#refresh-logs': refreshLogs,
    '#refresh-history': () => loadHistory(true),
    '#history-more': () => loadHistory(false),
    '#restore-time': restoreToTime,
    '#fork': forkObject,
  };
  for (const [selector, action] of Object.entries(clicks)) onClick(selector, action);
  onEnter('#search', () => loadObjects(true));
  onEnter('#key-prefix', () => loadKeys(true));
  onEnter('#value-editor', saveEdit, true);
  onEnter('#new-value', addKey, true);
  onEnter('#sql-query', runSql, true);
}

// The script is deferred, so the document is parsed by now.
bindEvents();
if (storedToken()) enterApp();
else signOut();
