import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dueAfter, firstDueAt, nextStep, resumedDueAt } from './schedule.ts';

const t = (iso: string) => new Date(iso);

describe('sequence timing rules', () => {
  it('dueAfter adds the offset in seconds to the base; 0 is due at the base itself', () => {
    assert.deepEqual(dueAfter(t('2030-01-01T00:00:00Z'), 0), t('2030-01-01T00:00:00Z'));
    assert.deepEqual(dueAfter(t('2030-01-01T00:00:00Z'), 259_200), t('2030-01-04T00:00:00Z'));
    assert.throws(() => dueAfter(t('2030-01-01T00:00:00Z'), -1), RangeError);
    assert.throws(() => dueAfter(t('2030-01-01T00:00:00Z'), 1.5), RangeError);
  });

  it('the next step is the smallest position above the last one sent, whatever the order or gaps', () => {
    const steps = [{ position: 5 }, { position: 2 }, { position: 9 }];
    assert.equal(nextStep(steps, 0)?.position, 2);
    assert.equal(nextStep(steps, 2)?.position, 5);
    assert.equal(nextStep(steps, 3)?.position, 5);
    assert.equal(nextStep(steps, 9), undefined);
    assert.equal(nextStep([], 0), undefined);
  });

  it('a new subscription is due at started_at + the first step offset, or never while there are no steps', () => {
    const started = t('2030-01-01T10:00:00Z');
    assert.deepEqual(firstDueAt(started, [{ position: 2, offset_seconds: 60 }, { position: 1, offset_seconds: 0 }]), started);
    assert.deepEqual(firstDueAt(started, [{ position: 3, offset_seconds: 3600 }]), t('2030-01-01T11:00:00Z'));
    assert.equal(firstDueAt(started, []), null);
  });

  it('resume keeps the wait that remained at pause time, counted from the resume', () => {
    // Due in 2 h when paused; paused for 3 days: due 2 h after the resume.
    assert.deepEqual(resumedDueAt(t('2030-01-01T12:00:00Z'), t('2030-01-01T10:00:00Z'), t('2030-01-04T10:00:00Z')), t('2030-01-04T12:00:00Z'));
    // Already due (overdue) when paused: due at once on resume, never in the past and never skipped.
    assert.deepEqual(resumedDueAt(t('2030-01-01T09:00:00Z'), t('2030-01-01T10:00:00Z'), t('2030-01-02T10:00:00Z')), t('2030-01-02T10:00:00Z'));
    // Resumed at once: nothing changes.
    assert.deepEqual(resumedDueAt(t('2030-01-01T12:00:00Z'), t('2030-01-01T10:00:00Z'), t('2030-01-01T10:00:00Z')), t('2030-01-01T12:00:00Z'));
  });

  it('resume leaves nothing due when nothing was due, and keeps a due time it cannot re-base', () => {
    assert.equal(resumedDueAt(null, t('2030-01-01T10:00:00Z'), t('2030-01-02T10:00:00Z')), null);
    assert.deepEqual(resumedDueAt(t('2030-01-01T12:00:00Z'), null, t('2030-01-02T10:00:00Z')), t('2030-01-01T12:00:00Z'));
  });
});
