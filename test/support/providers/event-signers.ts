import { execFileSync } from 'node:child_process';
import { createHmac, createSign, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startFakeHttp } from './fake-http.ts';

/**
 * Signing as each provider documents it, for event posts in tests: an SNS topic with its own X.509
 * signing certificate (served, with the SubscribeURL, from a loopback "SNS host"), a SendGrid
 * ECDSA P-256 key pair, Mailgun's HMAC.
 */
export async function startSnsTopic() {
  const dir = mkdtempSync(path.join(tmpdir(), 'sns-cert-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=sns.eu-west-1.amazonaws.com'], { stdio: 'ignore' });
    var key = readFileSync(path.join(dir, 'key.pem'), 'utf8');
    var cert = readFileSync(path.join(dir, 'cert.pem'), 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const state = { certFetches: 0, confirmations: [] as string[] };
  const server = await startFakeHttp((request) => {
    if (request.path === '/SimpleNotificationService-0123.pem') {
      state.certFetches++;
      return { status: 200, headers: { 'content-type': 'application/x-x509-ca-cert' }, body: cert };
    }
    if (request.path === '/' && request.query.get('Action') === 'ConfirmSubscription') {
      state.confirmations.push(request.query.get('Token') ?? '');
      return { status: 200, headers: { 'content-type': 'text/xml' }, body: '<ConfirmSubscriptionResponse><ConfirmSubscriptionResult><SubscriptionArn>arn:aws:sns:eu-west-1:123456789012:ses-events:1</SubscriptionArn></ConfirmSubscriptionResult></ConfirmSubscriptionResponse>' };
    }
    return { status: 404, body: 'no' };
  });
  const topicArn = 'arn:aws:sns:eu-west-1:123456789012:ses-events';
  let counter = 0;
  /** An SNS envelope of `type`, signed (SignatureVersion 2 unless told) with the topic's key. */
  function envelope(type: 'Notification' | 'SubscriptionConfirmation', message: string, options: { version?: '1' | '2'; timestamp?: string; certUrl?: string; signWith?: string } = {}) {
    const id = `22b80b92-fdea-4c2c-8f9d-bdfb0c7bf${String(++counter).padStart(3, '0')}`;
    const fields: Record<string, string> = {
      Type: type,
      MessageId: id,
      TopicArn: topicArn,
      Message: message,
      Timestamp: options.timestamp ?? new Date().toISOString(),
      SignatureVersion: options.version ?? '2',
      SigningCertURL: options.certUrl ?? `${server.url}/SimpleNotificationService-0123.pem`,
      ...(type === 'SubscriptionConfirmation' ? { Token: `token-${id}`, SubscribeURL: `${server.url}/?Action=ConfirmSubscription&TopicArn=${topicArn}&Token=token-${id}` } : { Subject: 'Amazon SES Email Event Notification' }),
    };
    const order = type === 'Notification' ? ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'] : ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'];
    const text = order.map((name) => `${name}\n${fields[name]}\n`).join('');
    const signature = createSign(fields.SignatureVersion === '1' ? 'RSA-SHA1' : 'RSA-SHA256').update(text).sign(options.signWith ?? key, 'base64');
    return { ...fields, Signature: signature, UnsubscribeURL: `${server.url}/?Action=Unsubscribe` } as Record<string, string>;
  }
  return { ...server, state, topicArn, envelope, otherKey: () => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

export function sendgridKeyPair() {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    /** As SendGrid shows it: base64 DER SubjectPublicKeyInfo. */
    publicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
    headers(body: string, timestamp = String(Math.floor(Date.now() / 1000))) {
      const signature = sign('sha256', Buffer.from(timestamp + body), privateKey).toString('base64');
      return { 'x-twilio-email-event-webhook-signature': signature, 'x-twilio-email-event-webhook-timestamp': timestamp };
    },
  };
}

export function mailgunSignature(signingKey: string, token: string, timestamp = String(Math.floor(Date.now() / 1000))) {
  return { timestamp, token, signature: createHmac('sha256', signingKey).update(timestamp + token).digest('hex') };
}
