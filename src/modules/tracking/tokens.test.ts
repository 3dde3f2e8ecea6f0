import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { signToken, verifyToken } from './tokens.ts';

const secret = 's'.repeat(40);

describe('link tokens', () => {
  it('round-trip the message id', () => {
    const token = signToken(secret, 'unsubscribe', 'msg_abc123');
    assert.equal(verifyToken(secret, 'unsubscribe', token), 'msg_abc123');
    assert.equal(verifyToken(secret, 'unsubscribe', token.toUpperCase().replace('MSG_ABC123', 'msg_abc123')), 'msg_abc123');
  });

  it('refuse another secret, another purpose, another message or an altered mac', () => {
    const token = signToken(secret, 'unsubscribe', 'msg_abc123');
    assert.equal(verifyToken('t'.repeat(40), 'unsubscribe', token), null);
    assert.equal(verifyToken(secret, 'open', token), null);
    assert.equal(verifyToken(secret, 'unsubscribe', token.replace('msg_abc123', 'msg_abc124')), null);
    const last = token.at(-1) === '0' ? '1' : '0';
    assert.equal(verifyToken(secret, 'unsubscribe', token.slice(0, -1) + last), null);
    assert.equal(verifyToken(secret, 'unsubscribe', 'msg_abc123'), null);
    assert.equal(verifyToken(secret, 'unsubscribe', `${token}00`), null);
  });

  it('bind a click to its target URL', () => {
    const token = signToken(secret, 'click', 'msg_1', 'https://example.com/a');
    assert.equal(verifyToken(secret, 'click', token, 'https://example.com/a'), 'msg_1');
    assert.equal(verifyToken(secret, 'click', token, 'https://evil.example/a'), null);
  });

  it('fit the local part of a mailto address', () => {
    assert.ok(`unsubscribe+${signToken(secret, 'unsubscribe', 'msg_' + 'x'.repeat(20))}`.length <= 64);
  });
});
