#!/usr/bin/env node
// Pre-deploy guard (`npm run deploy:check`): reads a wrangler config and fails, one line per
// problem, on what would make a deployed Worker insecure or broken — the placeholder KV
// namespace id, the development key `roster-dev-key`, a `STREAM_API_SECRET` in plaintext in
// `[vars]` or not set as a Wrangler secret, and the test/development switches
// `ROSTER_TEST_HOOKS` and `ROSTER_DEV_TOKENS` in `[vars]`. It also reports the production
// switches (playground, CORS origins, Workers Logs, a secret rotation in progress).
//
//   node scripts/deploy-check.mjs [--config wrangler.toml] [--env production]
//
// The config checks are offline. Whether the secret is set comes from
// `wrangler secret list --format json`: node_modules/.bin/wrangler, or the command in
// $ROSTER_WRANGLER (tests stand in for Cloudflare's API with it). Output: `✓` a check passed,
// `✗ <what> — <how to fix>` a problem, `·` information, `!` a warning; the last line is
// `deploy:check: N problem(s)` (exit 1) or `deploy:check: ready to deploy` (exit 0).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { isTable, parseToml } from './toml.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT_CONFIG = join(ROOT, 'wrangler.toml');
const KV_BINDING = 'USERS';
const DEV_KEY = 'roster-dev-key';
const SECRET = 'STREAM_API_SECRET';
const PREVIOUS = 'STREAM_API_SECRET_PREVIOUS';
/** Switches that only tests and `npm run dev` turn on (with --var), never a deployed config. */
const SWITCHES = {
  ROSTER_TEST_HOOKS: 'test hooks expose fault injection',
  ROSTER_DEV_TOKENS: 'dev tokens hand out server tokens',
};
const WRANGLER_TIMEOUT_MS = 60_000;

const USAGE = `Usage: node scripts/deploy-check.mjs [options]   (npm run deploy:check -- [options])

Checks a wrangler config before \`npx wrangler deploy\`.

  -c, --config <path>  the wrangler config (default: wrangler.toml in the project root)
  -e, --env <name>     check [env.<name>] as \`wrangler deploy --env <name>\` would
  -h, --help           this text

The secret check runs \`wrangler secret list\` (node_modules/.bin/wrangler, or $ROSTER_WRANGLER),
which needs \`npx wrangler login\` or CLOUDFLARE_API_TOKEN.`;

// ---------------------------------------------------------------------------------------------
// The config as `wrangler deploy [--env name]` sees it.

/**
 * The settings checked here for `env` (or the top level): `vars` and `kv_namespaces` are not
 * inherited — with an [env.<name>] section, only its own count, as in wrangler — while
 * `observability` is. Without such a section wrangler falls back to the top level.
 */
export function resolveConfig(raw, env) {
  const top = { vars: raw.vars ?? {}, kv: raw.kv_namespaces ?? [], observability: raw.observability };
  if (!env) return { ...top, found: true, varsLabel: '[vars]', kvLabel: 'kv_namespaces' };
  const section = raw.env?.[env];
  if (!isTable(section)) return { ...top, found: false, varsLabel: '[vars]', kvLabel: 'kv_namespaces' };
  return {
    vars: section.vars ?? {},
    kv: section.kv_namespaces ?? [],
    observability: section.observability ?? raw.observability,
    found: true,
    varsLabel: `[env.${env}.vars]`,
    kvLabel: `[env.${env}] kv_namespaces`,
  };
}

// ---------------------------------------------------------------------------------------------
// Checks. Each adds lines to `report`: pass(text), fail(what, fix), info(text), warn(text).

function checkKv(cfg, report, file) {
  const fix = `npx wrangler kv namespace create ${KV_BINDING} and put the id in ${file}`;
  const ns = (Array.isArray(cfg.kv) ? cfg.kv : []).find((n) => n?.binding === KV_BINDING);
  if (!ns) {
    return report.fail(`no KV namespace is bound as ${KV_BINDING} in ${cfg.kvLabel}`,
      `${fix} as { binding = "${KV_BINDING}", id = "<the id>" }`);
  }
  const id = typeof ns.id === 'string' ? ns.id.trim() : '';
  if (id === '') return report.fail(`KV namespace ${KV_BINDING} has no id`, fix);
  if (/^0+$/.test(id)) return report.fail(`KV namespace ${KV_BINDING} has the placeholder id ${id}`, fix);
  if (!/^[0-9a-f]{32}$/i.test(id)) {
    return report.fail(`KV namespace ${KV_BINDING} has an id that is not 32 hex characters (${JSON.stringify(id)})`, fix);
  }
  report.pass(`KV namespace ${KV_BINDING}: id ${id}`);
}

function checkKey(cfg, report) {
  const key = cfg.vars.STREAM_API_KEY;
  if (typeof key !== 'string' || key.trim() === '') {
    return report.fail(`STREAM_API_KEY is not set in ${cfg.varsLabel}`, "set it to your app's API key");
  }
  if (key === DEV_KEY) {
    return report.fail(`STREAM_API_KEY is the development key "${DEV_KEY}"`,
      `set ${cfg.varsLabel} STREAM_API_KEY to your app's key`);
  }
  report.pass(`STREAM_API_KEY is "${key}"`);
}

function checkNoPlaintextSecret(cfg, report, file, flags) {
  const found = [SECRET, PREVIOUS].filter((name) => Object.hasOwn(cfg.vars, name));
  for (const name of found) {
    report.fail(`${name} is in ${cfg.varsLabel}, in plaintext`,
      `remove it from ${file} and npx wrangler secret put ${name}${flags}`);
  }
  if (found.length === 0) report.pass(`${SECRET} is not in ${cfg.varsLabel}`);
}

function checkNoSwitches(cfg, report, file) {
  const found = Object.keys(SWITCHES).filter((name) => Object.hasOwn(cfg.vars, name));
  for (const name of found) {
    report.fail(`${name} is in ${cfg.varsLabel}`, `remove it from ${file}: ${SWITCHES[name]}`);
  }
  if (found.length === 0) report.pass(`no test or development switches in ${cfg.varsLabel}`);
}

/** `secrets` (names from `wrangler secret list`), or null when they could not be listed. */
function checkSecretSet(secrets, error, report, flags) {
  if (!secrets) {
    return report.fail(`could not confirm ${SECRET} is set (wrangler secret list: ${error})`,
      'log in with npx wrangler login or set CLOUDFLARE_API_TOKEN');
  }
  if (!secrets.includes(SECRET)) return report.fail(`${SECRET} is not set`, `npx wrangler secret put ${SECRET}${flags}`);
  report.pass(`${SECRET} is set (a Wrangler secret)`);
}

function reportSwitches(cfg, secrets, report, flags) {
  const playground = cfg.vars.ROSTER_PLAYGROUND;
  if (playground === 'on') report.info('playground: on — ROSTER_PLAYGROUND serves the playground page at / publicly');
  else report.info(`playground: off (ROSTER_PLAYGROUND ${playground === undefined ? 'unset' : JSON.stringify(playground)}; "on" serves it publicly)`);

  const origins = cfg.vars.ROSTER_CORS_ORIGINS;
  if (origins === undefined || String(origins).trim() === '*') {
    report.info(`CORS origins: * (every browser origin; set ROSTER_CORS_ORIGINS in ${cfg.varsLabel} to restrict)`);
  } else {
    report.info(`CORS origins: ${origins} (ROSTER_CORS_ORIGINS)`);
  }

  if (cfg.observability?.enabled === true) report.info('observability: on (Workers Logs)');
  else report.warn('observability is off — add [observability] enabled = true to keep Worker logs');

  if (!secrets) report.info(`secret rotation: unknown (${PREVIOUS} could not be listed)`);
  else if (secrets.includes(PREVIOUS)) {
    report.info(`${PREVIOUS} is set: a secret rotation is in progress ` +
      `(npx wrangler secret delete ${PREVIOUS}${flags} once your servers use the new secret)`);
  } else report.info(`no secret rotation in progress (${PREVIOUS} is not set)`);
}

// ---------------------------------------------------------------------------------------------
// wrangler secret list

/** The command to run as wrangler: $ROSTER_WRANGLER, or the project's own wrangler. */
function wranglerCommand(env) {
  return env.ROSTER_WRANGLER || join(ROOT, 'node_modules', '.bin', 'wrangler');
}

/** The first non-empty line of a command's error output, without colours or wrangler's ✘ [ERROR]. */
function firstLine(text) {
  const line = text
    .replace(/\x1b\[[0-9;]*[A-Za-z]/g, '')
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l !== '');
  return line?.replace(/^✘\s*\[ERROR\]\s*/, '');
}

/** Runs `cmd args` without a terminal or stdin, killing its process group after `timeoutMs`. */
function run(cmd, args, env, timeoutMs) {
  return new Promise((done) => {
    let child;
    try {
      child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env, detached: process.platform !== 'win32' });
    } catch (error) {
      return done({ error });
    }
    const out = [];
    const err = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (process.platform === 'win32') child.kill('SIGKILL');
        else process.kill(-child.pid, 'SIGKILL'); // wrangler's bin runs its CLI as a child
      } catch {}
    }, timeoutMs);
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    child.on('error', (error) => {
      clearTimeout(timer);
      done({ error });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, timedOut, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
  });
}

/** The names in a `wrangler secret list --format json` answer, or null if it is not one. */
function secretNames(stdout) {
  const text = stdout.trim();
  const candidates = [text, text.slice(text.indexOf('['), text.lastIndexOf(']') + 1)];
  for (const candidate of candidates) {
    try {
      const list = JSON.parse(candidate);
      if (Array.isArray(list)) return list.map((s) => s?.name).filter((n) => typeof n === 'string');
    } catch {}
  }
  return null;
}

/** `{ secrets }` (names) or `{ error }` (one line) from `wrangler secret list`. */
export async function listSecrets(configPath, envName, env = process.env) {
  const cmd = wranglerCommand(env);
  if (!env.ROSTER_WRANGLER && !existsSync(cmd)) return { error: `${relative(ROOT, cmd)} not found; run npm run setup` };
  const args = ['secret', 'list', '--format', 'json', '--config', configPath, ...(envName ? ['--env', envName] : [])];
  const childEnv = { ...env, CI: '1', WRANGLER_SEND_METRICS: 'false' };
  const r = await run(cmd, args, childEnv, WRANGLER_TIMEOUT_MS);
  if (r.error) return { error: `${cmd}: ${r.error.message}` };
  if (r.timedOut) return { error: `no answer within ${WRANGLER_TIMEOUT_MS / 1000} s` };
  if (r.code !== 0) return { error: firstLine(r.stderr) ?? firstLine(r.stdout) ?? `exited with code ${r.code}` };
  const secrets = secretNames(r.stdout);
  if (!secrets) return { error: `not a JSON list: ${firstLine(r.stdout) ?? '(no output)'}` };
  return { secrets };
}

// ---------------------------------------------------------------------------------------------

function newReport(write = console.log) {
  const report = {
    problems: 0,
    pass: (text) => write(`✓ ${text}`),
    fail: (what, fix) => {
      report.problems++;
      write(`✗ ${what} — ${fix}`);
    },
    info: (text) => write(`· ${text}`),
    warn: (text) => write(`! ${text}`),
  };
  return report;
}

function readConfig(configPath, file, report) {
  let text;
  try {
    text = readFileSync(configPath, 'utf8');
  } catch (e) {
    report.fail(`cannot read ${file} (${e.code ?? e.message})`, 'pass the config with --config <path>');
    return null;
  }
  try {
    return parseToml(text);
  } catch (e) {
    report.fail(`${file} is not valid TOML (${e.message})`, 'fix it, or check it with npx wrangler deploy --dry-run');
    return null;
  }
}

/** Runs every check; returns the exit code. */
export async function main(argv = process.argv.slice(2), env = process.env) {
  let opts;
  try {
    ({ values: opts } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        env: { type: 'string', short: 'e' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    console.error(`deploy:check: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }

  const configPath = opts.config ? resolve(opts.config) : DEFAULT_CONFIG;
  const file = basename(configPath);
  // wrangler's own flags for the fix commands, the config as given
  const flags = `${configPath === DEFAULT_CONFIG ? '' : ` --config ${opts.config}`}${opts.env ? ` --env ${opts.env}` : ''}`;
  const report = newReport();
  console.log(`deploy:check: ${relative(process.cwd(), configPath) || file}${opts.env ? ` (env ${opts.env})` : ''}`);

  const raw = readConfig(configPath, file, report);
  if (raw) {
    const cfg = resolveConfig(raw, opts.env);
    if (!cfg.found) report.fail(`${file} has no [env.${opts.env}] section`, `add one, or drop --env ${opts.env}`);
    checkKv(cfg, report, file);
    checkKey(cfg, report);
    checkNoPlaintextSecret(cfg, report, file, flags);
    checkNoSwitches(cfg, report, file);
    const { secrets = null, error } = await listSecrets(configPath, opts.env, env);
    checkSecretSet(secrets, error, report, flags);
    reportSwitches(cfg, secrets, report, flags);
  }

  console.log(report.problems ? `deploy:check: ${report.problems} problem(s)` : 'deploy:check: ready to deploy');
  return report.problems ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main();
}
