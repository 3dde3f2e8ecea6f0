// SMTP load generator for bench:submission, run as a child process (as autocannon is for HTTP): N
// connections, each logged in once, sending one message after another for a fixed time, MAIL/RCPT/DATA
// pipelined (RFC 2920). Prints one JSON line: accepted, refused, seconds, latency p50/p99 in ms.
// node --import tsx bench/support/smtp-load.ts PORT SECRET CONNECTIONS SECONDS
import net from 'node:net';

const [port, secret, connections, seconds] = [Number(process.argv[2]), process.argv[3]!, Number(process.argv[4]), Number(process.argv[5])];
const MESSAGE = [
  'From: "Tu Servicio" <no-reply@tu-dominio.com>',
  'To: "Cliente Ejemplo" <cliente@example.com>',
  'Subject: Confirma tu cuenta en Tu Servicio',
  'MIME-Version: 1.0',
  'Content-Type: multipart/alternative; boundary="b"',
  '',
  '--b',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Hola Cliente Ejemplo,',
  '',
  'Visita https://tu-dominio.com/verify?token=abc123 para confirmar tu cuenta.',
  '--b',
  'Content-Type: text/html; charset=utf-8',
  '',
  '<p>Hola <strong>Cliente Ejemplo</strong>,</p><p>Haz clic <a href="https://tu-dominio.com/verify?token=abc123">aqui</a>.</p>',
  '--b--',
  '',
].join('\r\n');

/** One connection: resolves with its counts when the time is up. */
function run(deadline: number, latencies: number[]): Promise<{ ok: number; refused: number }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    let buffer = '';
    let ok = 0;
    let refused = 0;
    let started = 0;
    // The replies still expected, in order, and what to do on each.
    const expect: Array<(code: number) => void> = [];
    const sendMessage = () => {
      if (Date.now() >= deadline) {
        socket.end('QUIT\r\n');
        return resolve({ ok, refused });
      }
      started = performance.now();
      let failed = false;
      expect.push((c) => void (failed ||= c !== 250));
      expect.push((c) => void (failed ||= c !== 250));
      expect.push((c) => {
        if (c !== 354) {
          refused++;
          return sendMessage();
        }
        socket.write(`Message-ID: <${process.pid}.${Math.random().toString(36).slice(2)}@load.test>\r\n${MESSAGE}.\r\n`);
        expect.push((final) => {
          if (final === 250 && !failed) {
            ok++;
            latencies.push(performance.now() - started);
          } else refused++;
          sendMessage();
        });
      });
      socket.write('MAIL FROM:<no-reply@tu-dominio.com>\r\nRCPT TO:<cliente@example.com>\r\nDATA\r\n');
    };
    socket.on('error', reject);
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      for (let end = buffer.indexOf('\r\n'); end >= 0; end = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (line[3] === '-') continue;
        expect.shift()?.(Number(line.slice(0, 3)));
      }
    });
    expect.push(() => socket.write('EHLO load.test\r\n'));
    expect.push(() => socket.write(`AUTH PLAIN ${Buffer.from(`\0apikey\0${secret}`).toString('base64')}\r\n`));
    expect.push((code) => (code === 235 ? sendMessage() : reject(new Error(`AUTH answered ${code}`))));
  });
}

const latencies: number[] = [];
const begin = Date.now();
const results = await Promise.all(Array.from({ length: connections }, () => run(begin + seconds * 1000, latencies)));
const elapsed = (Date.now() - begin) / 1000;
latencies.sort((a, b) => a - b);
const pick = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
console.log(JSON.stringify({ ok: results.reduce((n, r) => n + r.ok, 0), refused: results.reduce((n, r) => n + r.refused, 0), seconds: elapsed, p50: pick(0.5), p99: pick(0.99) }));
