import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { providerIdCandidates } from './provider-ids.ts';

describe('provider message ids as events name them (pure)', () => {
  it('SendGrid: every dotted prefix of sg_message_id, as X-Message-Id is its first part', () => {
    assert.deepEqual(providerIdCandidates('sendgrid', 'W0ZoTmdzQ5KlUmqVTTmuXQ.filterdrecv-5645.1.0'), ['W0ZoTmdzQ5KlUmqVTTmuXQ', 'W0ZoTmdzQ5KlUmqVTTmuXQ.filterdrecv-5645', 'W0ZoTmdzQ5KlUmqVTTmuXQ.filterdrecv-5645.1', 'W0ZoTmdzQ5KlUmqVTTmuXQ.filterdrecv-5645.1.0']);
  });
  it('Mailgun: with and without the angle brackets of the send answer', () => {
    assert.deepEqual(providerIdCandidates('mailgun', '20261201230000.abc@mg.example.test'), ['<20261201230000.abc@mg.example.test>', '20261201230000.abc@mg.example.test']);
    assert.deepEqual(providerIdCandidates('mailgun', '<x@mg.example.test>'), ['<x@mg.example.test>', 'x@mg.example.test']);
  });
  it('SES and Postmark: as given', () => {
    assert.deepEqual(providerIdCandidates('ses', '0100019abc-ses'), ['0100019abc-ses']);
    assert.deepEqual(providerIdCandidates('postmark', 'b7bc2f4a-e38e-4336-af7d-e6c392c2f817'), ['b7bc2f4a-e38e-4336-af7d-e6c392c2f817']);
  });
});
