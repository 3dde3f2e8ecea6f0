/**
 * A token bucket for the bulk send rate (MAILERDASH_BULK_RATE messages per second): pure, so the
 * job keeps the state and passes the clock. Rate 0 means unlimited.
 */
export interface Bucket {
  tokens: number;
  updatedAt: number;
}

export interface BucketLimits {
  /** Tokens added per second; 0 = unlimited. */
  rate: number;
  /** Most tokens the bucket holds (the largest burst). */
  capacity: number;
}

export function fullBucket(limits: BucketLimits, nowMs: number): Bucket {
  return { tokens: limits.capacity, updatedAt: nowMs };
}

function refill(bucket: Bucket, limits: BucketLimits, nowMs: number): number {
  const elapsed = Math.max(0, nowMs - bucket.updatedAt);
  return Math.min(limits.capacity, bucket.tokens + (elapsed * limits.rate) / 1000);
}

/** Whole tokens available now. */
export function available(bucket: Bucket, limits: BucketLimits, nowMs: number): number {
  if (limits.rate === 0) return Number.POSITIVE_INFINITY;
  return Math.floor(refill(bucket, limits, nowMs));
}

/** Takes up to `wanted` tokens; says how many were granted and, when none, how long until one is. */
export function take(bucket: Bucket, limits: BucketLimits, nowMs: number, wanted: number): { bucket: Bucket; granted: number; waitMs: number } {
  if (limits.rate === 0) return { bucket, granted: wanted, waitMs: 0 };
  const tokens = refill(bucket, limits, nowMs);
  const granted = Math.max(0, Math.min(wanted, Math.floor(tokens)));
  const left = tokens - granted;
  const waitMs = granted > 0 ? 0 : Math.ceil(((1 - left) * 1000) / limits.rate);
  return { bucket: { tokens: left, updatedAt: nowMs }, granted, waitMs };
}
