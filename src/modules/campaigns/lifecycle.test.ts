import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { actionForStatus, nextStatus } from './lifecycle.ts';

describe('campaign lifecycle', () => {
  it('follows the seed: draft -> send -> sent, editable only as a draft', () => {
    assert.equal(nextStatus('draft', 'edit'), 'draft');
    assert.equal(nextStatus('draft', 'send'), 'send');
    assert.equal(nextStatus('send', 'finish'), 'sent');
    assert.equal(nextStatus('send', 'edit'), null);
    assert.equal(nextStatus('draft', 'finish'), null);
  });

  it('a sent or cancelled campaign accepts no change at all', () => {
    for (const status of ['sent', 'cancelled'] as const) {
      for (const action of ['edit', 'delete', 'send', 'pause', 'resume', 'cancel', 'finish'] as const) {
        assert.equal(nextStatus(status, action), null, `${status} ${action}`);
      }
    }
  });

  it('pauses, resumes and cancels only where it makes sense', () => {
    assert.equal(nextStatus('send', 'pause'), 'paused');
    assert.equal(nextStatus('paused', 'resume'), 'send');
    assert.equal(nextStatus('paused', 'cancel'), 'cancelled');
    assert.equal(nextStatus('draft', 'cancel'), 'cancelled');
    assert.equal(nextStatus('draft', 'pause'), null);
    assert.equal(nextStatus('paused', 'send'), null);
    assert.equal(nextStatus('paused', 'finish'), null);
    assert.equal(nextStatus('send', 'delete'), null);
  });

  it('maps a PATCH status to its action', () => {
    assert.equal(actionForStatus('draft', 'send'), 'send');
    assert.equal(actionForStatus('paused', 'send'), 'resume');
    assert.equal(actionForStatus('send', 'paused'), 'pause');
    assert.equal(actionForStatus('draft', 'cancelled'), 'cancel');
  });
});
