import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCorpus } from '../../../test/support/bounce-corpus.ts';

// The classifier against the labelled corpus of real bounce mails (test/fixtures/bounces, from
// sisimai's test suite). The floors are what the classifier reaches today (docs/benchmarks.md):
// a change that makes it worse fails here. Agreement is computed over every mail, never per mail.
describe('bounce corpus', () => {
  const r = runCorpus();

  it('has at least 200 real mails from at least 20 MTAs and providers', () => {
    assert.ok(r.total >= 200, `${r.total} mails`);
    assert.ok(r.engines >= 20, `${r.engines} engines`);
  });

  it('agrees with the labels on the kind (hard, soft, complaint, auto-reply, delivered) for at least 80 %', () => {
    assert.ok(r.kindAgree / r.total >= 0.8, `${r.kindAgree}/${r.total}`);
  });

  it('finds at least 90 % of the hard bounces, and agrees on hard-or-not for at least 85 %', () => {
    assert.ok(r.hardFound / r.hardLabelled >= 0.9, `${r.hardFound}/${r.hardLabelled}`);
    assert.ok(r.hardAgree / r.total >= 0.85, `${r.hardAgree}/${r.total}`);
  });

  it('agrees on the reason for at least 70 % of the mails whose label names one of ours', () => {
    assert.ok(r.reasonAgree / r.reasonLabelled >= 0.7, `${r.reasonAgree}/${r.reasonLabelled}`);
  });
});
