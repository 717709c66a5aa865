// The live panel: this Worker's API over Stream's wire protocol (api_key query parameter,
// Authorization: <JWT>, stream-auth-type: jwt), and its events over the WebSocket stream-chat's
// connectUser opens. Credentials come from GET /_dev/token, which only a Worker run by
// `npm run dev` serves; a deployed Worker has no such route, so the panel asks for an API key and
// a token instead. The API secret never reaches this page.
//
// The event feed connects with the server token (a server token may connect as any user, so no
// user token is needed) as the user named in "Connect as" (`playground` by default; connecting
// creates or updates that user, as connectUser does). The user list's queries carry
// `presence: true` and the socket's `connection_id`, which makes the Worker send this socket
// every change to the users listed; the list follows those events in place.
import { diffView, errorView, h, parseJson, show } from './show.js';

const $ = (selector) => document.querySelector(selector);
const SESSION_KEY = 'roster.playground.credentials';
const SAMPLE_USERS = [
  { id: 'alice', name: 'Alice Smith', teams: ['red'], title: 'Designer' },
  { id: 'bob', name: 'Bob Stone', teams: ['blue'], title: 'Engineer' },
  { id: 'carol', name: 'Carol Díaz', teams: ['red', 'blue'], title: 'Manager', address: { city: 'Lisbon' } },
];
/** Users per page (Stream's default `limit`). One more is asked for, to know whether a next page exists. */
const PAGE = 30;
/** The Worker lets one connection watch at most this many users through presence queries. */
const MAX_WATCHED = 1000;
/** stream-chat pings every 25 s; the Worker drops a connection silent for 75 s. */
const PING_MS = 25_000;
const LOG_MAX = 50;
const FEED_MAX = 100;

let creds = null; // { api_key, token, source: 'dev' | 'pasted' }
let selected = null; // the user open in the editor, as last read

// The list: one page of users in id order, found with an id cursor (`id > after`), so paging
// works past the 1,000 users `offset` reaches and stays put while users are added.
const list = {
  users: [], // this page's users, as last read or as the latest event showed them
  after: null, // the cursor of this page: the id before its first user (null: the first page)
  back: [], // the cursors of the pages before it
  more: false, // whether a next page exists
};

// ------------------------------------------------------------------------------------ requests

/** A Worker error: the parsed error body, with the HTTP status it came with. */
class StreamError extends Error {
  constructor(body, status) {
    super(body.message);
    Object.assign(this, body, { StatusCode: body.StatusCode ?? status });
  }
}

/**
 * One API call; resolves the JSON body, or throws the Worker's error body as a StreamError.
 * `query` values are sent as JSON (as the SDK sends `payload`), `params` as they are.
 */
async function api(method, path, { query = {}, params = {}, body } = {}) {
  const url = new URL(path, location.origin);
  url.searchParams.set('api_key', creds.api_key);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, JSON.stringify(v));
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const headers = { Authorization: creds.token, 'stream-auth-type': 'jwt' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const started = performance.now();
  let res;
  try {
    res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    logRequest({ method, url, body, status: 'failed', text: String(e?.message ?? e), ms: performance.now() - started });
    throw e;
  }
  const text = await res.text();
  logRequest({ method, url, body, status: res.status, text, ms: performance.now() - started });
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`${method} ${url.pathname}: HTTP ${res.status}, not JSON`);
  }
  if (!res.ok) throw new StreamError(parsed, res.status);
  return parsed;
}

// ------------------------------------------------------------------------------------ request log

/** The URL as shown in the log: parameters decoded, a token in it cut short. */
function shownUrl(url) {
  const params = [...url.searchParams].map(([k, v]) => `${k}=${k === 'authorization' ? `${v.slice(0, 16)}…` : v}`);
  return params.length ? `${url.pathname}?${params.join('&')}` : url.pathname;
}

/**
 * Adds one request to the top of the log as it completes: method, path and status in its line,
 * the whole exchange when opened. `status` is a number, or a word for what is not an HTTP
 * answer (a failed fetch, a WebSocket's outcome).
 */
function logRequest({ method, url, body, status, text, ms, headers = true }) {
  const ok = typeof status === 'number' ? status < 400 : status === 'open';
  const lines = [
    `${method} ${shownUrl(url)}`,
    ...(headers ? [`Authorization: ${creds.token.slice(0, 16)}…`, 'stream-auth-type: jwt'] : []),
    ...(body === undefined ? [] : ['', JSON.stringify(body, null, 2)]),
    '',
    typeof status === 'number' ? `→ HTTP ${status}` : `→ ${status}`,
    pretty(text),
  ];
  const entry = h('li', { class: ok ? 'log-ok' : 'log-bad', 'data-method': method, 'data-path': url.pathname, 'data-status': String(status) },
    h('details', {},
      h('summary', {},
        h('span', { class: 'log-method' }, method),
        h('span', { class: 'log-path' }, url.pathname),
        h('span', { class: 'log-status' }, String(status)),
        h('span', { class: 'log-ms muted' }, `${Math.round(ms)} ms`)),
      h('pre', { class: 'code', tabindex: '0' }, lines.join('\n'))));
  const log = $('#live-log');
  log.prepend(entry);
  while (log.children.length > LOG_MAX) log.lastElementChild.remove();
}

/** A response body for reading: pretty JSON when it is JSON, cut short when long. */
function pretty(text) {
  let shown = text;
  try {
    shown = JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    // not JSON: as received
  }
  return shown.length > 6000 ? `${shown.slice(0, 6000)}\n…` : shown;
}

// ------------------------------------------------------------------------------------ credentials

async function devCredentials() {
  try {
    const res = await fetch('/_dev/token', { cache: 'no-store' });
    if (!res.ok) return null;
    const body = await res.json();
    return typeof body.api_key === 'string' && typeof body.token === 'string' ? { ...body, source: 'dev' } : null;
  } catch {
    return null;
  }
}

function savedCredentials() {
  try {
    const c = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? 'null');
    return c && typeof c.api_key === 'string' && typeof c.token === 'string' ? { ...c, source: 'pasted' } : null;
  } catch {
    return null;
  }
}

function showConnected() {
  const how = creds.source === 'dev'
    ? ['with a development token from ', h('code', {}, 'GET /_dev/token'), ', which only ', h('code', {}, 'npm run dev'), ' serves.']
    : 'with the key and token you pasted (kept in this tab only).';
  show($('#live-auth'),
    h('p', { class: 'connected' }, h('strong', {}, 'Connected'), ' with API key ', h('code', {}, creds.api_key), ' ', how),
    creds.source === 'pasted' && h('button', { type: 'button', class: 'btn', onclick: disconnect }, 'Forget credentials'));
  $('#live-app').hidden = false;
}

/** The form for a key and a token; after a refused attempt, shows why and keeps what was typed. */
function showPasteForm(problem, typed = { api_key: '', token: '' }) {
  $('#live-app').hidden = true;
  const key = h('input', { id: 'live-key', autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false', required: true });
  const token = h('input', { id: 'live-token', type: 'password', autocomplete: 'off', required: true });
  key.value = typed.api_key;
  token.value = typed.token;
  const form = h('form', { class: 'paste', onsubmit: async (e) => {
    e.preventDefault();
    await connect({ api_key: key.value.trim(), token: token.value.trim(), source: 'pasted' });
  } },
  h('p', {}, 'This Worker does not hand out development tokens (only ', h('code', {}, 'npm run dev'),
    ' does). Paste the app’s API key and a server token. Make the token on your own machine, e.g. with ',
    h('code', {}, 'createToken(secret, { server: true })'), ' from roster-users — never paste the API secret into a web page.'),
  h('div', { class: 'field' }, h('label', { for: 'live-key' }, 'API key'), key),
  h('div', { class: 'field' }, h('label', { for: 'live-token' }, 'Server token (JWT)'), token),
  h('button', { type: 'submit', class: 'btn primary' }, 'Connect'));
  show($('#live-auth'), form, problem && errorView(problem));
}

async function connect(candidate) {
  creds = candidate;
  let app;
  try {
    ({ app } = await api('GET', '/app'));
  } catch (e) {
    creds = null;
    sessionStorage.removeItem(SESSION_KEY);
    showPasteForm(e, candidate);
    return;
  }
  if (candidate.source === 'pasted') {
    sessionStorage.setItem(SESSION_KEY, JSON.stringify({ api_key: candidate.api_key, token: candidate.token }));
  }
  showConnected();
  $('#live-mode').value = app.enforce_unique_usernames;
  // Under `npm run dev` the feed connects at once, before the first query, so that query already
  // watches the users it lists. With pasted credentials (a real app) connecting would create a
  // user there: it waits for the button.
  if (candidate.source === 'dev') await feed.open($('#live-feed-user').value.trim());
  else feed.render();
  await loadUsers();
}

function disconnect() {
  feed.close();
  sessionStorage.removeItem(SESSION_KEY);
  creds = null;
  showPasteForm(null);
}

// ------------------------------------------------------------------------------------ app and users

/** Runs an action; its error is shown as Stream returns it. Returns whether it succeeded. */
async function attempt(action) {
  try {
    await action();
    return true;
  } catch (e) {
    show($('#live-result'), errorView(e));
    return false;
  }
}

async function changeMode() {
  const mode = $('#live-mode').value;
  await attempt(async () => {
    await api('PATCH', '/app', { body: { enforce_unique_usernames: mode } });
    const { app } = await api('GET', '/app');
    $('#live-mode').value = app.enforce_unique_usernames;
    show($('#live-result'), h('p', { class: 'success', role: 'status' },
      'Saved: ', h('code', {}, `enforce_unique_usernames: "${app.enforce_unique_usernames}"`), ' (PATCH /app, read back with GET /app).'));
  });
}

/**
 * Reads the current page: users with `id > list.after` in id order (and the search), with
 * presence. While the feed is open the query names its connection, so the Worker sends the feed
 * every change to these users.
 */
async function loadUsers() {
  const search = $('#live-search').value.trim();
  const filter = {};
  if (search) filter.name = { $autocomplete: search };
  if (list.after !== null) filter.id = { $gt: list.after };
  const payload = { filter_conditions: filter, sort: [{ field: 'id', direction: 1 }], limit: PAGE + 1, presence: true };
  await attempt(async () => {
    const connection = await feed.connectionFor(PAGE + 1);
    const { users } = await api('GET', '/users', { query: { payload }, params: connection ? { connection_id: connection } : {} });
    if (connection) feed.watching(connection, users);
    list.more = users.length > PAGE;
    list.users = users.slice(0, PAGE);
    renderUsers(search);
  });
}

function renderUsers(search = $('#live-search').value.trim()) {
  const { users, back, more } = list;
  const first = back.length * PAGE + 1;
  const n = users.length;
  let count;
  if (n === 0) count = back.length ? 'No more users.' : search ? 'No user matches.' : 'No users yet: add the sample users.';
  else if (back.length === 0 && !more) count = `${n} user${n === 1 ? '' : 's'}`;
  else count = `Users ${first}–${first + n - 1}${more ? ' (more on the next page)' : ''}`;
  $('#live-count').textContent = count;
  show($('#live-users'), users.map(userItem));
  $('#live-prev').disabled = back.length === 0;
  $('#live-next').disabled = !more;
}

/** One user of the list: name, id and teams, presence, and lifecycle marks. */
function userItem(u) {
  const online = u.online === true;
  return h('li', { 'data-id': u.id },
    h('button', { type: 'button', class: 'user', 'data-id': u.id, 'aria-current': u.id === selected?.id ? 'true' : null, onclick: () => openUser(u) },
      h('span', { class: 'user-top' },
        h('span', { class: 'user-name' }, u.name || u.id),
        h('span', { class: `presence ${online ? 'on' : 'off'}`, title: online ? 'connected now' : 'not connected' }, online ? 'online' : 'offline')),
      h('span', { class: 'user-id' }, u.id, u.teams?.length ? ` · ${u.teams.join(', ')}` : '',
        u.deactivated_at ? ' · deactivated' : '', u.deleted_at ? ' · deleted' : '')));
}

/** Replaces a listed user with a newer copy (from a write's response or an event). */
function updateListed(user) {
  const i = list.users.findIndex((u) => u.id === user.id);
  if (i < 0) return;
  list.users[i] = { ...user, online: user.online ?? list.users[i].online };
  $(`#live-users li[data-id="${CSS.escape(user.id)}"]`)?.replaceWith(userItem(list.users[i]));
}

async function nextPage() {
  if (!list.more || list.users.length === 0) return;
  list.back.push(list.after);
  list.after = list.users[list.users.length - 1].id;
  await loadUsers();
}

async function previousPage() {
  if (list.back.length === 0) return;
  list.after = list.back.pop();
  await loadUsers();
}

function firstPage() {
  list.after = null;
  list.back = [];
}

async function seed() {
  if (await attempt(() => api('POST', '/users', { body: { users: Object.fromEntries(SAMPLE_USERS.map((u) => [u.id, u])) } }))) {
    show($('#live-result'), h('p', { class: 'success', role: 'status' }, `Upserted ${SAMPLE_USERS.map((u) => u.id).join(', ')} (POST /users).`));
    await loadUsers();
  }
}

/** Opens `user` in the editor; `keepResult` keeps the last save's outcome on screen. */
function openUser(user, keepResult = false) {
  selected = user;
  for (const b of document.querySelectorAll('#live-users .user')) {
    if (b.dataset.id === user.id) b.setAttribute('aria-current', 'true');
    else b.removeAttribute('aria-current');
  }
  const set = h('textarea', { id: 'live-set', rows: '5', wrap: 'off', spellcheck: 'false', autocapitalize: 'off' });
  set.value = JSON.stringify({ name: user.name ?? '' }, null, 2);
  const unset = h('input', { id: 'live-unset', autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false', placeholder: 'e.g. title, address.city' });
  show($('#live-editor'),
    h('h3', {}, 'Edit ', h('code', {}, user.id)),
    h('details', {}, h('summary', {}, 'Stored user'), h('pre', { class: 'code' }, JSON.stringify(user, null, 2))),
    h('div', { class: 'field' }, h('label', { for: 'live-set' }, h('code', {}, 'set'), ' (JSON object of dotted paths)'), set),
    h('div', { class: 'field' }, h('label', { for: 'live-unset' }, h('code', {}, 'unset'), ' (paths, comma-separated)'), unset),
    h('button', { type: 'button', class: 'btn primary', id: 'live-save', onclick: () => save(set.value, unset.value) }, 'Save (PATCH /users)'));
  if (!keepResult) show($('#live-result'));
}

/** PATCH /users for the open user; the list shows the answer at once (no re-read needed). */
async function save(setText, unsetText) {
  const before = selected;
  await attempt(async () => {
    const set = parseJson(setText, 'set');
    const unset = unsetText.split(',').map((p) => p.trim()).filter(Boolean);
    const { users } = await api('PATCH', '/users', { body: { users: [{ id: before.id, set, unset }] } });
    const after = users[before.id];
    show($('#live-result'), h('p', { class: 'success', role: 'status' }, `Saved ${before.id}.`), diffView(before, after));
    updateListed(after);
    openUser(after, true);
  });
}

// ------------------------------------------------------------------------------------ event feed

/** The /connect WebSocket: connects, pings, reconnects, and lists what arrives. */
const feed = {
  ws: null,
  userId: '',
  connectionId: null, // set by the first health.check
  watched: new Set(), // the users this connection watches (the Worker caps it at MAX_WATCHED)
  // Each watched user as the feed last knew it (from a query or an event, not from a write's
  // response, which may arrive before the write's event): what an event changed is told from it.
  seen: new Map(),
  wanted: false, // whether the feed should stay open (a drop reconnects)
  retry: 0,
  timers: { ping: 0, retry: 0 },

  /** Opens the socket as `userId`; resolves once it is open (health.check) or has failed. */
  open(userId) {
    this.close();
    this.userId = userId;
    this.wanted = true;
    return this.dial();
  },

  /** One attempt; `again` after a drop (the list then watches its users on the new connection). */
  dial(again = false) {
    if (!creds || !this.wanted) return Promise.resolve(false);
    const url = new URL('/connect', location.origin);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const json = { user_id: this.userId, user_details: { id: this.userId }, server_determines_connection_id: true };
    url.searchParams.set('json', JSON.stringify(json));
    url.searchParams.set('api_key', creds.api_key);
    url.searchParams.set('authorization', creds.token);
    url.searchParams.set('stream-auth-type', 'jwt');
    const started = performance.now();
    const ws = new WebSocket(url);
    this.ws = ws;
    this.connectionId = null;
    this.watched = new Set();
    this.seen = new Map();
    show($('#live-feed-error'));
    this.render(`Connecting as ${this.userId}…`);
    return new Promise((resolve) => {
      let settled = false;
      let refused = false; // a connection.error frame came (and was logged)
      const settle = (ok) => {
        if (!settled) resolve(ok);
        settled = true;
      };
      setTimeout(() => settle(false), 5000); // the list does not wait longer for the feed
      ws.addEventListener('message', (m) => {
        if (this.ws !== ws) return;
        let frame;
        try {
          frame = JSON.parse(m.data);
        } catch {
          return;
        }
        if (frame.type === 'health.check' && !this.connectionId) {
          this.connectionId = frame.connection_id;
          this.retry = 0;
          logRequest({ method: 'GET', url, status: 'open', text: m.data, ms: performance.now() - started, headers: false });
          this.timers.ping = setInterval(() => this.ping(), PING_MS);
          this.render();
          const late = settled; // the list stopped waiting and was read without this connection
          settle(true);
          // A new connection watches nobody: the list's query watches its users again.
          if (again || late) loadUsers();
        } else if (frame.type === 'connection.error') {
          refused = true;
          this.wanted = false; // close code 1000 follows: a permanent error, as the SDK treats it
          logRequest({ method: 'GET', url, status: 'connection.error', text: m.data, ms: performance.now() - started, headers: false });
          show($('#live-feed-error'), errorView(frame.error ?? frame, { via: 'socket' }));
        } else if (frame.type !== 'health.check') {
          this.received(frame);
        }
      });
      ws.addEventListener('close', (e) => {
        if (this.ws !== ws) return;
        if (!this.connectionId && !refused) {
          // Closed before its health.check, with no error frame (the Worker unreachable, say).
          logRequest({ method: 'GET', url, status: `closed ${e.code}`, text: e.reason, ms: performance.now() - started, headers: false });
        }
        clearInterval(this.timers.ping);
        this.ws = null;
        this.connectionId = null;
        settle(false);
        if (this.wanted) {
          // Dropped (a restart, a missed ping while the tab slept): try again, backing off.
          const wait = Math.min(30_000, 1000 * 2 ** this.retry++);
          this.render(`Disconnected (${e.code}${e.reason ? `: ${e.reason}` : ''}); reconnecting in ${Math.round(wait / 1000)} s…`);
          this.timers.retry = setTimeout(() => this.dial(true), wait);
        } else {
          this.render(e.code === 1000 && e.reason && e.reason !== 'bye' ? `Closed: ${e.reason}` : undefined);
        }
      });
    });
  },

  ping() {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify([{ type: 'health.check', client_id: this.connectionId }]));
  },

  close() {
    this.wanted = false;
    clearInterval(this.timers.ping);
    clearTimeout(this.timers.retry);
    const ws = this.ws;
    this.ws = null;
    this.connectionId = null;
    this.watched = new Set();
    this.seen = new Map();
    ws?.close(1000, 'bye');
    this.render();
  },

  /**
   * The connection id a query of up to `n` users should name, or null when the feed is closed.
   * A connection watches at most MAX_WATCHED users: when a query could pass that, the feed
   * reconnects first (a fresh connection watches nobody).
   */
  async connectionFor(n) {
    if (!this.connectionId) return null;
    if (this.watched.size + n > MAX_WATCHED) {
      this.close();
      this.wanted = true;
      await this.dial();
    }
    return this.connectionId;
  },

  watching(connection, users) {
    if (connection !== this.connectionId) return;
    for (const u of users) {
      this.watched.add(u.id);
      this.seen.set(u.id, u);
    }
    this.render();
  },

  /** An event: listed at the top of the feed, and applied to the list. */
  received(event) {
    const u = event.user;
    let change = '';
    if (u) {
      const known = this.seen.get(u.id);
      if (event.type === 'user.presence.changed') change = u.online ? 'online' : 'offline';
      else if (known) change = changedFields(known, u);
      this.seen.set(u.id, u);
      updateListed(u);
    }
    const time = (event.created_at ?? '').slice(11, 19);
    const entry = h('li', { 'data-type': event.type, 'data-user': u?.id ?? '' },
      h('details', {},
        h('summary', {},
          h('span', { class: 'feed-time muted' }, time),
          h('span', { class: 'feed-type' }, event.type),
          u && h('code', { class: 'feed-user' }, u.id),
          change && h('span', { class: 'feed-change muted' }, change)),
        h('pre', { class: 'code', tabindex: '0' }, JSON.stringify(event, null, 2))));
    const ol = $('#live-feed');
    ol.prepend(entry);
    while (ol.children.length > FEED_MAX) ol.lastElementChild.remove();
    this.render();
  },

  /** The status line and the button; `note` replaces the default status. */
  render(note) {
    const open = Boolean(this.connectionId);
    $('#live-feed-toggle').textContent = this.wanted ? 'Disconnect' : 'Connect';
    $('#live-feed-user').disabled = this.wanted;
    const events = $('#live-feed').children.length;
    let status = note;
    if (!status && open) {
      status = `Connected as ${this.userId} (connection ${this.connectionId}), watching ${this.watched.size} user${this.watched.size === 1 ? '' : 's'}.`
        + (events ? '' : ' Events appear here as they arrive.');
    }
    if (!status) {
      status = creds?.source === 'pasted'
        ? 'Not connected. Connecting creates or updates this user in the app, as connectUser does.'
        : 'Not connected.';
    }
    $('#live-feed-status').textContent = status;
  },
};

/** The top-level fields a newer copy of a user changed (the server's own times left out). */
function changedFields(before, after) {
  const skip = new Set(['updated_at', 'last_active', 'online']);
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  const changed = [...keys].filter((k) => !skip.has(k) && JSON.stringify(before[k]) !== JSON.stringify(after[k]));
  return changed.length ? `changed ${changed.sort().join(', ')}` : '';
}

async function toggleFeed(e) {
  e.preventDefault();
  if (feed.wanted) {
    feed.close();
    return;
  }
  const id = $('#live-feed-user').value.trim();
  if (!id) return;
  if (await feed.open(id)) await loadUsers();
}

// ------------------------------------------------------------------------------------ start

export async function startLive() {
  $('#live-origin').textContent = location.origin;
  $('#live-mode').addEventListener('change', changeMode);
  $('#live-seed').addEventListener('click', seed);
  $('#live-refresh').addEventListener('click', loadUsers);
  $('#live-next').addEventListener('click', nextPage);
  $('#live-prev').addEventListener('click', previousPage);
  $('#live-feed-form').addEventListener('submit', toggleFeed);
  let timer;
  $('#live-search').addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      firstPage();
      loadUsers();
    }, 200);
  });
  show($('#live-auth'), h('p', { class: 'muted' }, 'Connecting…'));
  const found = savedCredentials() ?? (await devCredentials());
  if (found) await connect(found);
  else showPasteForm(null);
}
