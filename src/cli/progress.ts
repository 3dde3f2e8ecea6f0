import cliProgress from 'cli-progress';

/** Progress of long work: a bar with rate and ETA on a terminal, a plain line every few seconds otherwise. */
export interface Progress {
  update(done: number): void;
  stop(): void;
}

const mb = (bytes: number) => (bytes / 1_048_576).toFixed(1);

export function byteProgress(label: string, total: number, out: NodeJS.WriteStream = process.stderr, now: () => number = Date.now): Progress {
  if (out.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${label} [{bar}] {percentage}% | {done}/{size} MB | {rate} MB/s | ETA {eta_formatted}`, hideCursor: true, stream: out },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { done: mb(0), size: mb(total), rate: '0.0' });
    const started = now();
    return {
      update(done) {
        bar.update(done, { done: mb(done), rate: mb(done / Math.max(0.001, (now() - started) / 1000)) });
      },
      stop: () => bar.stop(),
    };
  }
  const started = now();
  let lastLine = -Infinity;
  let last = 0;
  const line = (done: number) => {
    const seconds = Math.max(0.001, (now() - started) / 1000);
    const rate = done / seconds;
    const eta = rate > 0 ? Math.round((total - done) / rate) : null;
    out.write(`${label}: ${mb(done)} of ${mb(total)} MB (${total ? Math.floor((done / total) * 100) : 100}%), ${mb(rate)} MB/s, ETA ${eta === null ? '?' : `${eta} s`}\n`);
    lastLine = now();
  };
  return {
    update(done) {
      last = done;
      if (now() - lastLine >= 1000) line(done);
    },
    stop() {
      line(last);
    },
  };
}
