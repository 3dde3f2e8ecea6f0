import cliProgress from 'cli-progress';

/** Progress of long work: a bar with rate and ETA on a terminal, a plain line every few seconds otherwise. */
export interface Progress {
  update(done: number): void;
  stop(): void;
}

/** How one kind of work is counted: bytes shown as MB, or items (messages) as they are. */
interface Unit {
  amount(n: number): string;
  name: string;
}

const MEGABYTES: Unit = { amount: (bytes) => (bytes / 1_048_576).toFixed(1), name: 'MB' };

function progress(label: string, total: number, unit: Unit, out: NodeJS.WriteStream, now: () => number): Progress {
  const started = now();
  const rate = (done: number) => done / Math.max(0.001, (now() - started) / 1000);
  if (out.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${label} [{bar}] {percentage}% | {done}/{size} ${unit.name} | {rate} ${unit.name}/s | ETA {eta_formatted}`, hideCursor: true, stream: out },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { done: unit.amount(0), size: unit.amount(total), rate: unit.amount(0) });
    return {
      update: (done) => bar.update(done, { done: unit.amount(done), rate: unit.amount(rate(done)) }),
      stop: () => bar.stop(),
    };
  }
  let lastLine = -Infinity;
  let last = 0;
  const line = (done: number) => {
    const perSecond = rate(done);
    const eta = perSecond > 0 ? Math.round((total - done) / perSecond) : null;
    const percent = total ? Math.floor((done / total) * 100) : 100;
    out.write(`${label}: ${unit.amount(done)} of ${unit.amount(total)} ${unit.name} (${percent}%), ${unit.amount(perSecond)} ${unit.name}/s, ETA ${eta === null ? '?' : `${eta} s`}\n`);
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

/** Progress counted in whole items, e.g. the messages of a batch that have reached a final state. */
export function countProgress(label: string, total: number, name: string, out: NodeJS.WriteStream = process.stderr, now: () => number = Date.now): Progress {
  return progress(label, total, { amount: (n) => String(Math.round(n)), name }, out, now);
}

/** Progress counted in rows, e.g. the rows an import job has read. */
export function rowProgress(label: string, total: number, out: NodeJS.WriteStream = process.stderr, now: () => number = Date.now): Progress {
  return countProgress(label, total, 'rows', out, now);
}
