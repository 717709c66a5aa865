// JWTs for Roster's scripts and tests, the one copy: the development credentials
// (scripts/credentials.mjs), the npm package's tests and the Worker's test harness.
import { createHmac } from 'node:crypto';

/** base64url of a string as is, or of anything else as JSON. */
const b64url = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');

/**
 * A JWT with any header and payload (objects are JSON-encoded, strings used byte for byte),
 * HS256-signed with `secret` unless `signature` is given. The default header is the one
 * Stream's SDKs write, {"alg":"HS256","typ":"JWT"}.
 */
export function signJwt(payload, secret, { header = { alg: 'HS256', typ: 'JWT' }, signature } = {}) {
  const unsigned = `${b64url(header)}.${b64url(payload)}`;
  const sig = signature ?? createHmac('sha256', secret).update(unsigned).digest('base64url');
  return `${unsigned}.${sig}`;
}
