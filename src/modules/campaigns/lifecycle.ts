import type { CampaignStatus } from './tables.ts';

/**
 * The campaign lifecycle. Seed 000: draft (editable) -> send (queued for dispatch) -> sent (every
 * contact processed and every message final), then read-only. Beyond the seed: a sending campaign
 * can be paused (dispatch and queued sends wait) and resumed, and a draft, sending or paused
 * campaign can be cancelled (nothing more is sent; terminal, like sent).
 */
export type CampaignAction = 'edit' | 'delete' | 'send' | 'pause' | 'resume' | 'cancel' | 'finish';

const TRANSITIONS: Record<CampaignStatus, Partial<Record<CampaignAction, CampaignStatus>>> = {
  draft: { edit: 'draft', delete: 'draft', send: 'send', cancel: 'cancelled' },
  send: { pause: 'paused', cancel: 'cancelled', finish: 'sent' },
  paused: { resume: 'send', cancel: 'cancelled' },
  sent: {},
  cancelled: {},
};

/** The status after `action`, or null when the action is not allowed in `status` (a 409). */
export function nextStatus(status: CampaignStatus, action: CampaignAction): CampaignStatus | null {
  return TRANSITIONS[status][action] ?? null;
}

/** The action a PATCH `{"status": ...}` asks for, given where the campaign is. */
export function actionForStatus(current: CampaignStatus, wanted: 'send' | 'paused' | 'cancelled'): CampaignAction {
  if (wanted === 'paused') return 'pause';
  if (wanted === 'cancelled') return 'cancel';
  return current === 'paused' ? 'resume' : 'send';
}
