// One warm start for hyperfine: runs `mailerdash start`, waits for /readyz to answer 200, stops it.
import { spawn } from 'node:child_process';

const port = process.env.PORT;
const child = spawn(process.execPath, ['bin/mailerdash.js', 'start'], { stdio: ['ignore', 'ignore', 'inherit'], env: process.env });
const deadline = Date.now() + 60_000;
let ready = false;
while (!ready && Date.now() < deadline && child.exitCode === null) {
  try {
    ready = (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200;
  } catch {
    // not listening yet
  }
  if (!ready) await new Promise((resolve) => setTimeout(resolve, 10));
}
child.kill('SIGTERM');
await new Promise((resolve) => child.once('exit', resolve));
if (!ready) {
  console.error('mailerdash did not become ready');
  process.exit(1);
}
