// Development credentials: reads .dev.vars (creating it with a random key and secret on first
// run) and prints them with a ready server token. `node scripts/credentials.mjs` prints them for
// people; with `--json` it prints JSON {key, secret, serverToken} instead.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { signJwt } from './jwt.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const file = join(root, '.dev.vars');

export function loadCredentials(path = file) {
  if (!existsSync(path)) {
    const key = `dev${randomBytes(8).toString('hex')}`;
    const secret = randomBytes(32).toString('hex');
    writeFileSync(path, `# Development credentials for wrangler dev (never commit this file)\nSTREAM_API_KEY=${key}\nSTREAM_API_SECRET=${secret}\n`, { mode: 0o600 });
  }
  const vars = Object.fromEntries(
    readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l.includes('=') && !l.startsWith('#'))
      .map((l) => [l.slice(0, l.indexOf('=')).trim(), l.slice(l.indexOf('=') + 1).trim()]),
  );
  const key = vars.STREAM_API_KEY;
  const secret = vars.STREAM_API_SECRET;
  return { key, secret, serverToken: signJwt({ server: true }, secret) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const c = loadCredentials();
  const base = `http://127.0.0.1:${process.env.PORT || 8787}`;
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(c));
  } else {
    console.log(`
  Roster development credentials (from .dev.vars)
    API key     ${c.key}
    API secret  ${c.secret}
    server token (Authorization header, with stream-auth-type: jwt):
      ${c.serverToken}

  Try it:
    curl -s "${base}/app?api_key=${c.key}" -H "Authorization: ${c.serverToken}" -H "stream-auth-type: jwt"
  Or with Stream's SDK:
    new StreamChat('${c.key}', '<secret>', { baseURL: '${base}' })
  Playground: ${base}/
`);
  }
}
