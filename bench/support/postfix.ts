// Debian's postfix test tools as the SMTP peer of the delivery benchmarks: smtp-sink receives,
// smtp-source measures the ceiling into the same sink.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';

export function ensurePostfixTools(): void {
  if (spawnSync('sh', ['-c', 'command -v smtp-sink && command -v smtp-source'], { stdio: 'ignore' }).status === 0) return;
  console.log('installing postfix for smtp-sink and smtp-source (apt-get)…');
  execFileSync('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null'], { stdio: 'inherit' });
  // The benchmarks need only the tools, not a mail server on port 25.
  spawnSync('sh', ['-c', 'postfix stop 2>/dev/null || true']);
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

export async function startSmtpSink(): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const asUser = process.getuid?.() === 0 ? ['-u', 'nobody'] : [];
  const child = spawn('smtp-sink', [...asUser, `127.0.0.1:${port}`, '1024'], { stdio: 'ignore' });
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => (socket.end(), resolve(true)));
      socket.on('error', () => resolve(false));
    });
    if (up) return { port, child };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('smtp-sink did not start');
}

/** CPU seconds a process has used so far (Linux /proc). */
export function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Messages per second postfix's own smtp-source pushes into the sink: the SMTP ceiling. */
export function smtpSourceRate(port: number, count: number, connections: number): number {
  const start = process.hrtime.bigint();
  const r = spawnSync('smtp-source', ['-s', String(connections), '-d', '-l', '5120', '-m', String(count), '-f', 'from@bench.example', '-t', 'to@example.org', `127.0.0.1:${port}`]);
  if (r.status !== 0) throw new Error(`smtp-source failed: ${r.stderr}`);
  return count / (Number(process.hrtime.bigint() - start) / 1e9);
}
