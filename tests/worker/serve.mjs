// Starts one test server (the compiled Worker from build/, as the harness does) for test runners
// that are not Node's: the Python and Go SDK suites. Prints one JSON line
// {baseURL, port, key, secret, persistTo} on stdout when the Worker answers, then serves until
// its standard input closes or it gets SIGTERM, and stops the server (and removes its data).
import { startWorker } from './harness.mjs';

const w = await startWorker({ hooks: process.env.ROSTER_SERVE_HOOKS !== '0' });
process.stdout.write(`${JSON.stringify({ baseURL: w.baseURL, port: w.port, key: w.key, secret: w.secret, persistTo: w.persistTo })}\n`);
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await w.stop();
  process.exit(0);
};
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
