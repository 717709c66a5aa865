// A TOML reader for wrangler configs (scripts/deploy-check.mjs): the subset wrangler configs
// use — tables, arrays of tables, dotted and quoted keys, strings (basic, literal, multi-line),
// numbers, booleans, dates (kept as strings), arrays (multi-line, trailing commas, comments) and
// inline tables. No dependency: node_modules holds no TOML parser of its own.

/** Parses TOML text into plain objects; throws `line N: …` on what it cannot read. */
export function parseToml(text) {
  const src = text.replace(/\r\n/g, '\n');
  const root = {};
  const explicit = new Set(); // tables opened with [a.b], which may not be opened twice
  let table = root;
  let i = 0;

  const fail = (msg) => {
    throw new Error(`line ${src.slice(0, i).split('\n').length}: ${msg}`);
  };
  const skipSpace = () => {
    while (src[i] === ' ' || src[i] === '\t') i++;
  };
  const skipComment = () => {
    if (src[i] === '#') while (i < src.length && src[i] !== '\n') i++;
  };
  /** Spaces, comments and newlines: what may separate the items of an array. */
  const skipBlank = () => {
    for (;;) {
      skipSpace();
      skipComment();
      if (src[i] !== '\n') return;
      i++;
    }
  };
  const endOfLine = () => {
    skipSpace();
    skipComment();
    if (i < src.length && src[i] !== '\n') fail(`unexpected ${JSON.stringify(src[i])}`);
    i++;
  };

  function parseKey() {
    const parts = [];
    for (;;) {
      skipSpace();
      if (src[i] === '"' || src[i] === "'") parts.push(parseString());
      else {
        const bare = /^[A-Za-z0-9_-]+/.exec(src.slice(i, i + 256));
        if (!bare) fail('expected a key');
        parts.push(bare[0]);
        i += bare[0].length;
      }
      skipSpace();
      if (src[i] !== '.') return parts;
      i++;
    }
  }

  function parseString() {
    const quote = src[i];
    const multi = src.startsWith(quote.repeat(3), i);
    i += multi ? 3 : 1;
    if (multi && src[i] === '\n') i++; // a newline right after the opening quotes is dropped
    let out = '';
    for (;;) {
      if (i >= src.length) fail('unterminated string');
      const c = src[i];
      if (!multi && c === quote) {
        i++;
        return out;
      }
      if (multi && src.startsWith(quote.repeat(3), i)) {
        // up to two quotes right before the closing ones are content: """a"""" is `a"`
        let n = 3;
        while (n < 5 && src[i + n] === quote) n++;
        i += n;
        return out + quote.repeat(n - 3);
      }
      if (c === '\n' && !multi) fail('newline in a string');
      if (c === '\\' && quote === '"') {
        out += parseEscape(multi);
        continue;
      }
      out += c;
      i++;
    }
  }

  function parseEscape(multi) {
    const e = src[i + 1];
    const simple = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', e: '\x1b', '"': '"', '\\': '\\' };
    if (e in simple) {
      i += 2;
      return simple[e];
    }
    if (e === 'u' || e === 'U' || e === 'x') {
      const len = { u: 4, U: 8, x: 2 }[e];
      const hex = src.slice(i + 2, i + 2 + len);
      if (!/^[0-9A-Fa-f]+$/.test(hex) || hex.length !== len) fail(`bad escape \\${e}${hex}`);
      i += 2 + len;
      return String.fromCodePoint(parseInt(hex, 16));
    }
    if (multi && /^\\[ \t]*\n/.test(src.slice(i, i + 200))) {
      // a line-ending backslash: the newline and the whitespace after it are trimmed
      i++;
      while (/[ \t\n]/.test(src[i] ?? '')) i++;
      return '';
    }
    return fail(`bad escape \\${e}`);
  }

  function parseArray() {
    i++;
    const items = [];
    for (;;) {
      skipBlank();
      if (src[i] === ']') break;
      items.push(parseValue());
      skipBlank();
      if (src[i] === ',') i++;
      else if (src[i] !== ']') fail('expected , or ] in an array');
    }
    i++;
    return items;
  }

  function parseInlineTable() {
    i++;
    const out = {};
    for (;;) {
      skipBlank();
      if (src[i] === '}') break;
      const key = parseKey();
      if (src[i] !== '=') fail('expected = in an inline table');
      i++;
      skipSpace();
      assign(out, key, parseValue());
      skipBlank();
      if (src[i] === ',') i++;
      else if (src[i] !== '}') fail('expected , or } in an inline table');
    }
    i++;
    return out;
  }

  function parseScalar() {
    const m = /^(?:\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?|\d{2}:\d{2}:\d{2}(?:\.\d+)?|[A-Za-z0-9_+.-]+)/.exec(
      src.slice(i, i + 256),
    );
    if (!m) fail(`unexpected ${JSON.stringify(src[i] ?? 'end of file')}`);
    const token = m[0];
    i += token.length;
    if (token === 'true' || token === 'false') return token === 'true';
    if (/^\d{4}-\d{2}-\d{2}|^\d{2}:\d{2}/.test(token)) return token; // dates and times, as written
    const n = token.replace(/_/g, '');
    if (/^[+-]?(?:inf|nan)$/.test(n)) return n.includes('nan') ? NaN : n.startsWith('-') ? -Infinity : Infinity;
    if (/^0[xob]/.test(n)) return Number(n);
    if (/^[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$/.test(n)) return Number(n);
    return fail(`not a value: ${token}`);
  }

  function parseValue() {
    if (src[i] === '"' || src[i] === "'") return parseString();
    if (src[i] === '[') return parseArray();
    if (src[i] === '{') return parseInlineTable();
    return parseScalar();
  }

  /** Sets `path` (dotted key parts) in `target`, creating tables on the way. */
  function assign(target, path, value) {
    let t = target;
    for (const part of path.slice(0, -1)) {
      t[part] ??= {};
      if (!isTable(t[part])) fail(`${path.join('.')}: ${part} is not a table`);
      t = t[part];
    }
    const last = path[path.length - 1];
    if (Object.hasOwn(t, last)) fail(`${path.join('.')} is defined twice`);
    t[last] = value;
  }

  /** The table at `path` from the root, through the last entry of arrays of tables. */
  function descend(path) {
    let t = root;
    for (const part of path) {
      t[part] ??= {};
      const next = Array.isArray(t[part]) ? t[part][t[part].length - 1] : t[part];
      if (!isTable(next)) fail(`${path.join('.')}: ${part} is not a table`);
      t = next;
    }
    return t;
  }

  while ((skipBlank(), i < src.length)) {
    if (src[i] === '[') {
      const many = src[i + 1] === '[';
      i += many ? 2 : 1;
      const path = parseKey();
      if (!src.startsWith(many ? ']]' : ']', i)) fail('unterminated table header');
      i += many ? 2 : 1;
      if (many) {
        const parent = descend(path.slice(0, -1));
        const name = path[path.length - 1];
        parent[name] ??= [];
        if (!Array.isArray(parent[name])) fail(`[[${path.join('.')}]]: not an array of tables`);
        parent[name].push((table = {}));
      } else {
        const id = JSON.stringify(path);
        if (explicit.has(id)) fail(`[${path.join('.')}] is defined twice`);
        explicit.add(id);
        table = descend(path);
      }
    } else {
      const key = parseKey();
      if (src[i] !== '=') fail(`expected = after ${key.join('.')}`);
      i++;
      skipSpace();
      assign(table, key, parseValue());
    }
    endOfLine();
  }
  return root;
}

export const isTable = (x) => x !== null && typeof x === 'object' && !Array.isArray(x);
