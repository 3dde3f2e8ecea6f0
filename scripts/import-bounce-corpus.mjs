#!/usr/bin/env node
// Copies a labelled bounce corpus out of a git checkout of sisimai/p5-sisimai (BSD 2-Clause):
// the mails of its set-of-emails/maildir/bsd and, per mail, the label its own test suite expects
// (t/*-lhost-*.t, t/*-rhost-*.t, t/890-rfc3464.t, t/891-rfc3834.t, t/899-arf.t: first recipient).
//   node scripts/import-bounce-corpus.mjs /path/to/p5-sisimai.git [per-engine limit]
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const [gitDir, limitArg] = process.argv.slice(2);
if (!gitDir) throw new Error('usage: import-bounce-corpus.mjs <p5-sisimai git dir> [per-engine limit]');
const limit = Number(limitArg ?? 10);
const git = (...args) => execFileSync('git', ['--git-dir', gitDir, ...args], { maxBuffer: 64 << 20 });
const commit = git('rev-parse', 'HEAD').toString().trim();
const out = path.resolve('test/fixtures/bounces');
mkdirSync(out, { recursive: true });

const tests = git('ls-tree', '--name-only', 'HEAD', 't/').toString().split('\n').filter((f) => /^t\/\d+-(lhost-.+|rhost-.+|rfc3464|rfc3834|arf)\.t$/.test(f));
const mails = new Set(git('ls-tree', '-r', '--name-only', 'HEAD', 'set-of-emails/maildir/bsd/').toString().split('\n'));
const labels = [];
for (const test of tests) {
  const source = git('show', `HEAD:${test}`).toString();
  const engine = /\$enginename\s*=\s*'([^']+)'/.exec(source)?.[1];
  if (!engine) continue;
  const kind = /-rhost-/.test(test) ? 'rhost-' : /-lhost-/.test(test) ? 'lhost-' : '';
  const prefix = `${kind}${engine.toLowerCase()}`;
  let taken = 0;
  for (const m of source.matchAll(/^\s*'(\d+)'\s*=>\s*\[\['([^']*)',\s*'([^']*)',\s*'([^']*)',\s*(\d)(?:,\s*'([^']*)')?\]/gm)) {
    if (taken >= limit) break;
    const [, index, status, replycode, reason, hard, feedbackType] = m;
    const file = `${prefix}-${index}.eml`;
    const mailPath = `set-of-emails/maildir/bsd/${file}`;
    if (!mails.has(mailPath)) continue;
    writeFileSync(path.join(out, file), git('show', `HEAD:${mailPath}`));
    labels.push({ file, engine: prefix, status, replycode, reason, hardbounce: hard === '1', ...(feedbackType ? { feedbackType } : {}) });
    taken++;
  }
}
writeFileSync(path.join(out, 'labels.json'), JSON.stringify({ source: `https://github.com/sisimai/p5-sisimai/tree/${commit}`, labels }, null, 1) + '\n');
writeFileSync(path.join(out, 'LICENSE'), git('show', 'HEAD:LICENSE').toString());
console.log(`${labels.length} mails from ${new Set(labels.map((l) => l.engine)).size} engines (sisimai/p5-sisimai ${commit})`);
