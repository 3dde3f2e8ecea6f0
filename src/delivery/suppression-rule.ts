import type { Channel } from '../modules/messages/tables.ts';

/**
 * Whether a suppression entry stops a message: bulk mail honours every reason; transactional mail
 * (a password reset) still goes to an unsubscribed or manually listed address, but never to one
 * that bounced or complained.
 */
export function suppressionBlocks(channel: Channel, reason: string): boolean {
  if (channel === 'bulk') return true;
  return reason === 'bounce' || reason === 'complaint';
}
