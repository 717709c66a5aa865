// The playground: tabs, and three panels that run the roster-users package in this page
// (its web build, loaded straight from ./pkg/ without a bundler). The live panel is live.js.
import { diffView, errorView, h, parseJson, show } from './show.js';
import { startLive } from './live.js';

const $ = (selector) => document.querySelector(selector);
const json = (value) => JSON.stringify(value, null, 2);

// ------------------------------------------------------------------------------------ tabs

function setupTabs() {
  const tabs = [...document.querySelectorAll('[role=tab]')];
  const select = (tab, focus) => {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
      document.getElementById(t.getAttribute('aria-controls')).hidden = !on;
    }
    if (focus) tab.focus();
    history.replaceState(null, '', `#${tab.id.replace(/^tab-/, '')}`);
  };
  for (const [i, tab] of tabs.entries()) {
    tab.addEventListener('click', () => select(tab, false));
    tab.addEventListener('keydown', (e) => {
      const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      select(tabs[(to + tabs.length) % tabs.length], true);
    });
  }
  const fromHash = () => {
    const tab = document.getElementById(`tab-${location.hash.slice(1)}`);
    if (tab) select(tab, false);
  };
  window.addEventListener('hashchange', fromHash);
  fromHash();
}

/** Example buttons that fill editors. */
function presets(container, list, apply) {
  show(container,
    h('span', { class: 'muted small' }, 'Examples:'),
    list.map((p) => h('button', { type: 'button', class: 'chip', onclick: () => apply(p) }, p.label)),
  );
  apply(list[0]);
}

// ------------------------------------------------------------------------------------ usernames

const SAMPLE_NAMES = ['John Doe', 'john.doe', 'JOHN_DOE', 'Jöhn Döe', 'Jane Roe', 'jane-roe 2', 'Иван Петров', 'иван.петров', '!!! ???'];

function setupNames(roster) {
  const input = $('#names-input');
  const rows = $('#names-table tbody');
  const summary = $('#names-summary');
  const render = () => {
    const names = input.value.split('\n').filter((line) => line !== '');
    const norms = names.map((n) => roster.normalizeUsername(n));
    const holders = new Map(); // normalized name → the line numbers holding it
    for (const [i, norm] of norms.entries()) {
      if (norm) holders.set(norm, [...(holders.get(norm) ?? []), i + 1]);
    }
    const groups = [...holders.entries()].filter(([, lines]) => lines.length > 1);
    const groupOf = new Map(groups.map(([norm], g) => [norm, g]));
    show(rows, names.map((name, i) => {
      const norm = norms[i];
      const others = (holders.get(norm) ?? []).filter((line) => line !== i + 1);
      const g = groupOf.get(norm);
      return h('tr', { class: g === undefined ? null : `collides g${g % 6}` },
        h('td', { class: 'num' }, String(i + 1)),
        h('td', {}, name),
        h('td', {}, norm ? h('code', {}, norm) : h('span', { class: 'muted' }, '(empty)')),
        h('td', {}, !norm
          ? h('span', { class: 'muted' }, 'holds no name')
          : others.length
            ? h('span', { class: 'mark' }, `✕ with #${others.join(', #')}`)
            : h('span', { class: 'ok' }, '✓ unique')));
    }));
    show(summary, groups.length === 0
      ? `${names.length} names, no collisions.`
      : [`${names.length} names; collide: `, groups.map(([norm, lines], g) =>
        h('span', { class: `pill g${g % 6}` }, `${norm} ×${lines.length}`))]);
  };
  input.value = SAMPLE_NAMES.join('\n');
  input.addEventListener('input', render);
  render();
}

// ------------------------------------------------------------------------------------ partial update

const STORED_USER = {
  id: 'ann',
  name: 'Ann Lee',
  role: 'user',
  teams: ['red'],
  book: 'Dune',
  address: { city: 'Oslo', zip: '0150' },
  privacy_settings: { typing_indicators: { enabled: true } },
  created_at: '2024-04-04T09:26:11Z',
  updated_at: '2024-04-04T09:26:11Z',
};

const PARTIAL_PRESETS = [
  { label: 'rename, move, unset', caller: 'server', update: { id: 'ann', set: { name: 'Ann Park', 'address.city': 'Bergen', 'privacy_settings.read_receipts': { enabled: false } }, unset: ['book'] } },
  { label: 'new nested path', caller: 'server', update: { id: 'ann', set: { 'prefs.theme.color': 'teal' } } },
  { label: 'role, as the user → 403', caller: 'user', update: { id: 'ann', set: { role: 'admin' } } },
  { label: 'bad path → 400', caller: 'server', update: { id: 'ann', set: { 'address..city': 'Bergen' } } },
  { label: 'set and unset one path → 400', caller: 'server', update: { id: 'ann', set: { 'address.city': 'Bergen' }, unset: ['address'] } },
];

function setupPartial(roster) {
  const user = $('#partial-user');
  const update = $('#partial-update');
  const caller = $('#partial-caller');
  const result = $('#partial-result');
  const run = () => {
    try {
      const before = parseJson(user.value, 'Stored user');
      const change = parseJson(update.value, 'Update');
      const who = caller.value === 'user' ? { user_id: String(before?.id ?? '') } : { server: true };
      const after = roster.applyPartialUpdate(before, change, { caller: who });
      show(result, diffView(before, after), h('details', {}, h('summary', {}, 'Updated user'), h('pre', { class: 'code' }, json(after))));
    } catch (e) {
      show(result, errorView(e, { via: 'package', call: 'applyPartialUpdate' }));
    }
  };
  user.value = json(STORED_USER);
  presets($('#partial-presets'), PARTIAL_PRESETS, (p) => {
    update.value = json(p.update);
    caller.value = p.caller;
    run();
  });
  for (const el of [user, update]) el.addEventListener('input', run);
  caller.addEventListener('change', run);
}

// ------------------------------------------------------------------------------------ batch upsert

const STORE_SEED = [{ id: 'john', name: 'John Doe', teams: ['red'] }];

const BATCH_PRESETS = [
  { label: 'same name, other team', users: [{ id: 'johnny', name: 'john.doe', teams: ['blue'] }, { id: 'jane', name: 'Jane Roe', teams: ['red'] }] },
  { label: 'same name, same team', users: [{ id: 'jd', name: 'JOHN DOE', teams: ['red', 'green'] }] },
  { label: 'clash inside the batch', users: [{ id: 'ann', name: 'Ann Lee' }, { id: 'ann2', name: 'ann-lee' }] },
  { label: 'reserved field → 400', users: [{ id: 'zed', name: 'Zed', created_at: 'helloworld' }] },
];

const MODE_NOTES = {
  no: 'Any number of users may share a name.',
  app: 'No two active users may share a normalized name.',
  team: 'No two users who share a team may share a normalized name (users without teams never collide).',
};

function setupBatch(roster) {
  let store;
  const input = $('#batch-input');
  const result = $('#batch-result');
  const rows = $('#batch-store tbody');
  const modes = [...document.querySelectorAll('input[name=batch-mode]')];
  const renderStore = () => {
    const { users } = store.queryUsers({}, [{ field: 'id', direction: 1 }], { limit: 100 });
    show(rows, users.map((u) => h('tr', {},
      h('td', {}, h('code', {}, u.id)),
      h('td', {}, u.name ?? ''),
      h('td', {}, h('code', {}, roster.normalizeUsername(u.name ?? ''))),
      h('td', {}, (u.teams ?? []).join(', ')))));
  };
  const setMode = (mode) => {
    try {
      store.updateAppSettings({ enforce_unique_usernames: mode });
      const now = store.getAppSettings().app.enforce_unique_usernames;
      show($('#batch-mode-note'), h('code', {}, `enforce_unique_usernames: "${now}"`), ` — ${MODE_NOTES[now]}`);
    } catch (e) {
      show(result, errorView(e, { via: 'package', call: 'UserStore.updateAppSettings' }));
    }
  };
  const reset = () => {
    store?.free();
    store = new roster.UserStore();
    store.upsertUsers(STORE_SEED);
    setMode(modes.find((m) => m.checked)?.value ?? 'no');
    show(result);
    renderStore();
  };
  $('#batch-upsert').addEventListener('click', () => {
    try {
      const batch = parseJson(input.value, 'The batch');
      const { users } = store.upsertUsers(batch);
      const ids = Object.keys(users);
      show(result, h('p', { class: 'success', role: 'status' }, `Upserted ${ids.length} user${ids.length === 1 ? '' : 's'}: ${ids.join(', ')}.`));
      renderStore();
    } catch (e) {
      show(result, errorView(e, { via: 'package', call: 'UserStore.upsertUsers' }), h('p', { class: 'muted small' }, 'Nothing was written.'));
      renderStore();
    }
  });
  $('#batch-reset').addEventListener('click', reset);
  for (const m of modes) m.addEventListener('change', () => setMode(m.value));
  presets($('#batch-presets'), BATCH_PRESETS, (p) => {
    input.value = json(p.users);
  });
  reset();
}

// ------------------------------------------------------------------------------------ start

setupTabs();
startLive();
const status = $('#core-status');
try {
  const roster = await import('./pkg/browser.js');
  setupNames(roster);
  setupPartial(roster);
  setupBatch(roster);
  status.textContent = 'WebAssembly core loaded.';
  status.classList.add('ok');
  document.documentElement.dataset.ready = 'true';
} catch (e) {
  status.textContent = `The WebAssembly core failed to load: ${e.message}`;
  status.classList.add('bad');
  document.documentElement.dataset.ready = 'false';
}
