// The live panel: this Worker's API over Stream's wire protocol (api_key query parameter,
// Authorization: <JWT>, stream-auth-type: jwt). Credentials come from GET /_dev/token, which
// only a Worker run by `npm run dev` serves; a deployed Worker has no such route, so the panel
// asks for an API key and a token instead. The API secret never reaches this page.
import { diffView, errorView, h, parseJson, show } from './show.js';

const $ = (selector) => document.querySelector(selector);
const SESSION_KEY = 'roster.playground.credentials';
const SAMPLE_USERS = [
  { id: 'alice', name: 'Alice Smith', teams: ['red'], title: 'Designer' },
  { id: 'bob', name: 'Bob Stone', teams: ['blue'], title: 'Engineer' },
  { id: 'carol', name: 'Carol Díaz', teams: ['red', 'blue'], title: 'Manager', address: { city: 'Lisbon' } },
];

let creds = null; // { api_key, token, source: 'dev' | 'pasted' }
let selected = null; // the user open in the editor, as last read

/** A Worker error: the parsed error body, with the HTTP status it came with. */
class StreamError extends Error {
  constructor(body, status) {
    super(body.message);
    Object.assign(this, body, { StatusCode: body.StatusCode ?? status });
  }
}

/** One API call; resolves the JSON body, or throws the Worker's error body as a StreamError. */
async function api(method, path, { query = {}, body } = {}) {
  const url = new URL(path, location.origin);
  url.searchParams.set('api_key', creds.api_key);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, JSON.stringify(v));
  const headers = { Authorization: creds.token, 'stream-auth-type': 'jwt' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  recordExchange(method, url, body, res.status, text);
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`${method} ${url.pathname}: HTTP ${res.status}, not JSON`);
  }
  if (!res.ok) throw new StreamError(parsed, res.status);
  return parsed;
}

function recordExchange(method, url, body, status, text) {
  const shown = `${url.pathname}?${decodeURIComponent(url.searchParams.toString())}`;
  const lines = [
    `${method} ${shown}`,
    `Authorization: ${creds.token.slice(0, 16)}…`,
    'stream-auth-type: jwt',
    ...(body === undefined ? [] : ['', JSON.stringify(body, null, 2)]),
    '',
    `→ HTTP ${status}`,
    pretty(text),
  ];
  $('#live-exchange pre').textContent = lines.join('\n');
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
  try {
    await api('GET', '/app');
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
  await Promise.all([loadMode(), loadUsers()]);
}

function disconnect() {
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

async function loadMode() {
  await attempt(async () => {
    const { app } = await api('GET', '/app');
    $('#live-mode').value = app.enforce_unique_usernames;
  });
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

async function loadUsers() {
  const search = $('#live-search').value.trim();
  const payload = {
    filter_conditions: search ? { name: { $autocomplete: search } } : {},
    sort: [{ field: 'id', direction: 1 }],
    limit: 30,
  };
  await attempt(async () => {
    const { users } = await api('GET', '/users', { query: { payload } });
    $('#live-count').textContent = users.length === 0
      ? (search ? 'No user matches.' : 'No users yet: add the sample users.')
      : `${users.length} user${users.length === 1 ? '' : 's'}${users.length === 30 ? ' (first 30)' : ''}`;
    show($('#live-users'), users.map((u) => h('li', {},
      h('button', { type: 'button', class: 'user', 'data-id': u.id, 'aria-current': u.id === selected?.id ? 'true' : null, onclick: () => openUser(u) },
        h('span', { class: 'user-name' }, u.name || u.id),
        h('span', { class: 'user-id' }, u.id, u.teams?.length ? ` · ${u.teams.join(', ')}` : '')))));
  });
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

async function save(setText, unsetText) {
  const before = selected;
  await attempt(async () => {
    const set = parseJson(setText, 'set');
    const unset = unsetText.split(',').map((p) => p.trim()).filter(Boolean);
    const { users } = await api('PATCH', '/users', { body: { users: [{ id: before.id, set, unset }] } });
    const after = users[before.id];
    show($('#live-result'), h('p', { class: 'success', role: 'status' }, `Saved ${before.id}.`), diffView(before, after));
    openUser(after, true);
    await loadUsers();
  });
}

// ------------------------------------------------------------------------------------ start

export async function startLive() {
  $('#live-origin').textContent = location.origin;
  $('#live-mode').addEventListener('change', changeMode);
  $('#live-seed').addEventListener('click', seed);
  $('#live-refresh').addEventListener('click', loadUsers);
  let timer;
  $('#live-search').addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(loadUsers, 200);
  });
  show($('#live-auth'), h('p', { class: 'muted' }, 'Connecting…'));
  const found = savedCredentials() ?? (await devCredentials());
  if (found) await connect(found);
  else showPasteForm(null);
}
