/** One soft bounce of a message, counted against its address within the soft-bounce window. */
export interface SoftBouncesTable {
  message_id: string;
  key_id: string;
  email: string;
  at: Date;
  reason: string | null;
}

export interface AddressesTables {
  soft_bounces: SoftBouncesTable;
}
