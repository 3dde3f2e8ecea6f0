import cliProgress from 'cli-progress';

/** Progress of long work: a bar with rate and ETA on a terminal, a plain line every few seconds otherwise. */
export interface Progress {
  update(done: number): void;
  stop(): void;
}

/** What is counted: its name in the lines and how an amount of it is written. */
interface Unit {
  name: string;
  show(amount: number): string;
}

const MEGABYTES: Unit = { name: 'MB', show: (bytes) => (bytes / 1_048_576).toFixed(1) };
const ROWS: Unit = { name: 'rows', show: (rows) => String(Math.round(rows)) };

function progress(label: string, total: number, unit: Unit, out: NodeJS.WriteStream, now: () => number): Progress {
  if (out.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${label} [{bar}] {percentage}% | {done}/{size} ${unit.name} | {rate} ${unit.name}/s | ETA {eta_formatted}`, hideCursor: true, stream: out },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { done: unit.show(0), size: unit.show(total), rate: unit.show(0) });
    const started = now();
    return {
      update(done) {
        bar.update(done, { done: unit.show(done), rate: unit.show(done / Math.max(0.001, (now() - started) / 1000)) });
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
    out.write(`${label}: ${unit.show(done)} of ${unit.show(total)} ${unit.name} (${total ? Math.floor((done / total) * 100) : 100}%), ${unit.show(rate)} ${unit.name}/s, ETA ${eta === null ? '?' : `${eta} s`}\n`);
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

export function byteProgress(label: string, total: number, out: NodeJS.WriteStream = process.stderr, now: () => number = Date.now): Progress {
  return progress(label, total, MEGABYTES, out, now);
}

export function rowProgress(label: string, total: number, out: NodeJS.WriteStream = process.stderr, now: () => number = Date.now): Progress {
  return progress(label, total, ROWS, out, now);
}
