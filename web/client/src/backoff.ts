// Reconnection delays: exponential backoff with full jitter.

export interface BackoffOptions {
  /** Delay before the first retry, in ms. */
  initialMs: number;
  /** Cap of the exponential part, in ms. */
  maxMs: number;
}

export const defaultBackoff: BackoffOptions = { initialMs: 250, maxMs: 10_000 };

/**
 * The delay before retry number `attempt` (0-based): a uniformly random
 * value between half and all of min(maxMs, initialMs * 2^attempt), so
 * clients that lost the server together do not come back together.
 * `random` returns values in [0, 1).
 */
export function backoffDelay(attempt: number, random: () => number, options: BackoffOptions = defaultBackoff): number {
  const ceiling = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
