// Shared by the npm package's tests.
import assert from "node:assert/strict";
import { isRosterError } from "roster-users";

/** Runs `fn`, which must throw a RosterError with this code, status and message. */
export function throwsRoster(fn, code, status, message) {
  let error;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  assert.ok(error, "expected a RosterError, nothing was thrown");
  assert.ok(error instanceof Error, `expected an Error, got ${error}`);
  assert.equal(error.name, "RosterError", error.stack);
  assert.ok(isRosterError(error), `expected a RosterError, got ${error?.stack ?? error}`);
  assert.deepEqual([error.code, error.StatusCode], [code, status], error.message);
  if (message instanceof RegExp) assert.match(error.message, message);
  else if (message !== undefined) assert.equal(error.message, message);
  return error;
}
