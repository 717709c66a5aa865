// Rendering helpers shared by the panels: a tiny element builder, JSON editors' parsing,
// canonical JSON, a line diff, and an error shown the way Stream's wire and SDK show it.

/** `h('p', { class: 'note' }, 'text', child)`: an element; `null`/`false` children are skipped. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  el.append(...present(children));
  return el;
}

/** Children as given, nested arrays flattened and `null`/`false`/`undefined` dropped. */
function present(children) {
  return children.flat(Infinity).filter((c) => c !== null && c !== false && c !== undefined);
}

/** Parses a JSON editor's text; a syntax error names the editor. */
export function parseJson(text, what) {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${what} is not valid JSON: ${e.message}`);
  }
}

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys(value[k])]));
  }
  return value;
}

/** Pretty JSON with keys sorted at every level, so two versions of a user diff line by line. */
export function canonical(value) {
  return JSON.stringify(sortKeys(value), null, 2);
}

/** A line diff (longest common subsequence): [{ op: ' ' | '-' | '+', text }]. */
export function diffLines(before, after) {
  const a = before.split('\n');
  const b = after.split('\n');
  // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
  const lcs = Array.from({ length: a.length + 1 }, () => new Uint16Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push({ op: ' ', text: a[i++] });
      j++;
    } else if (i < a.length && (j === b.length || lcs[i + 1][j] >= lcs[i][j + 1])) {
      out.push({ op: '-', text: a[i++] });
    } else {
      out.push({ op: '+', text: b[j++] });
    }
  }
  return out;
}

const DIFF_CLASS = { ' ': 'same', '-': 'del', '+': 'add' };

/** A figure with the before → after diff of two JSON values and a one-line summary. */
export function diffView(before, after, caption = 'Before → after') {
  const lines = diffLines(canonical(before), canonical(after));
  const added = lines.filter((l) => l.op === '+').length;
  const removed = lines.filter((l) => l.op === '-').length;
  const summary = added + removed === 0 ? 'no change' : `${added} line${added === 1 ? '' : 's'} added, ${removed} removed`;
  return h('figure', { class: 'diff' },
    h('figcaption', {}, h('span', {}, caption), h('span', { class: 'muted' }, summary)),
    h('pre', { class: 'code', tabindex: '0', 'aria-label': `${caption}: ${summary}` },
      lines.map((l) => h('span', { class: DIFF_CLASS[l.op] }, `${l.op} ${l.text}\n`))));
}

/** The body Stream answers an error with, in its key order (`duration` only over HTTP). */
function envelope(err) {
  const body = {};
  for (const key of ['code', 'message', 'exception_fields', 'StatusCode', 'duration', 'more_info', 'details']) {
    if (err[key] !== undefined) body[key] = err[key];
  }
  return body;
}

/**
 * An error as it reached this page, labelled by where it came from:
 * - `{ via: 'http' }` (the default): a Worker's error response, parsed. Shown as the stream-chat
 *   SDK throws it (`StreamChat error code 6: UpdateUsers failed with error: "…"`), headed with the
 *   HTTP status, and the JSON error body.
 * - `{ via: 'package', call }`: a `RosterError` thrown in this page by the roster-users package
 *   (`call` names the function, e.g. `UserStore.upsertUsers`). No HTTP is involved: it is shown as
 *   thrown (`RosterError: …`), with the error's fields (Stream's envelope, minus `duration`).
 * - `{ via: 'socket' }`: a `connection.error` frame on the /connect WebSocket, and its `error`.
 * Anything else (a JSON syntax error in an editor, a network failure) is a plain message.
 */
export function errorView(err, { via = 'http', call = 'roster-users' } = {}) {
  if (typeof err?.code !== 'number' || typeof err?.StatusCode !== 'number') {
    return h('div', { class: 'error', role: 'alert' }, h('p', { class: 'error-line' }, String(err?.message ?? err)));
  }
  const shown = {
    http: [`HTTP ${err.StatusCode} · Stream error code ${err.code}`, `StreamChat error code ${err.code}: ${err.message}`, 'Error body'],
    package: [`RosterError code ${err.code} · thrown in this page by ${call}`, `${err.name || 'RosterError'}: ${err.message}`, 'The error’s fields'],
    socket: [`connection.error on the WebSocket · Stream error code ${err.code}`, `StreamChat error code ${err.code}: ${err.message}`, 'The frame’s error'],
  }[via];
  const [head, line, what] = shown;
  return h('div', { class: 'error', role: 'alert', 'data-via': via },
    h('p', { class: 'error-head' }, head),
    h('p', { class: 'error-line' }, h('code', {}, line)),
    h('details', { open: true },
      h('summary', {}, what),
      h('pre', { class: 'code' }, JSON.stringify(envelope(err), null, 2))));
}

/** Replaces an output region's content. */
export function show(region, ...children) {
  region.replaceChildren(...present(children));
}
