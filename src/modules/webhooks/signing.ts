import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/** A new signing secret in the Standard Webhooks form (`whsec_` and 24 random bytes, base64). */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

/**
 * The webhook-signature header: one `v1,…` signature per secret, space-separated, so a receiver
 * still holding the previous secret during a rotation verifies as well as one holding the new.
 */
export function signatureHeader(secrets: string[], id: string, timestamp: Date, body: string): string {
  return secrets.map((secret) => signer(secret).sign(id, timestamp, body)).join(' ');
}

// A Webhook decodes its secret when made: one per secret, not one per signature.
const signers = new Map<string, Webhook>();
function signer(secret: string): Webhook {
  let made = signers.get(secret);
  if (!made) {
    if (signers.size >= 1000) signers.clear();
    made = new Webhook(secret);
    signers.set(secret, made);
  }
  return made;
}
