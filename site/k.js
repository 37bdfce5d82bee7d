// The k range the search API accepts (docs/contracts.md, "Keys"): the one place the page states it.

export const MIN_K = 1;
export const MAX_K = 10;
export const DEFAULT_K = 5;

/** Clamp anything to a k the API accepts, falling back to the default. */
export function clampK(value) {
  const k = Number.parseInt(value, 10);
  if (!Number.isFinite(k)) return DEFAULT_K;
  return Math.min(MAX_K, Math.max(MIN_K, k));
}
