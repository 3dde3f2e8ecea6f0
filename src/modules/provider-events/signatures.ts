import { createHmac, createPublicKey, createVerify, timingSafeEqual, verify } from 'node:crypto';

/** Equal strings, compared in constant time. */
export function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Mailgun: HMAC-SHA256 of timestamp + token under the webhook signing key, hex. */
export function mailgunSignatureValid(signingKey: string, timestamp: string, token: string, signature: string): boolean {
  const expected = createHmac('sha256', signingKey).update(timestamp + token).digest('hex');
  return /^[0-9a-f]{64}$/.test(signature) && sameSecret(signature, expected);
}

/** SendGrid's Signed Event Webhook: ECDSA P-256 / SHA-256 over timestamp + raw body; key and signature base64 DER. */
export function sendgridSignatureValid(publicKeyBase64: string, timestamp: string, rawBody: string, signatureBase64: string): boolean {
  try {
    const key = createPublicKey({ key: Buffer.from(publicKeyBase64, 'base64'), format: 'der', type: 'spki' });
    return verify('sha256', Buffer.from(timestamp + rawBody, 'utf8'), key, Buffer.from(signatureBase64, 'base64'));
  } catch {
    return false;
  }
}

export interface SnsEnvelope {
  Type: string;
  MessageId: string;
  TopicArn: string;
  Message: string;
  Timestamp: string;
  SignatureVersion: string;
  Signature: string;
  SigningCertURL: string;
  Subject?: string;
  SubscribeURL?: string;
  Token?: string;
}

/** The text SNS signs: named fields, each as `Name\nvalue\n`, in the documented order. */
export function snsStringToSign(envelope: SnsEnvelope): string {
  const fields = envelope.Type === 'Notification' ? ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'] : ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'];
  return fields
    .filter((name) => envelope[name as keyof SnsEnvelope] !== undefined)
    .map((name) => `${name}\n${envelope[name as keyof SnsEnvelope]}\n`)
    .join('');
}

/** An SNS envelope's signature against its signing certificate (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA). */
export function snsSignatureValid(envelope: SnsEnvelope, certificatePem: string): boolean {
  const algorithm = envelope.SignatureVersion === '1' ? 'RSA-SHA1' : envelope.SignatureVersion === '2' ? 'RSA-SHA256' : null;
  if (!algorithm) return false;
  try {
    return createVerify(algorithm).update(snsStringToSign(envelope), 'utf8').verify(certificatePem, envelope.Signature, 'base64');
  } catch {
    return false;
  }
}

/** The SNS certificate and subscription hosts: https on sns.<region>.amazonaws.com(.cn). */
export const SNS_HOST_PATTERN = '^https://sns\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/';
