// Score bands (docs/contracts.md, "Score bands"): each match's band as words, and weak matches folded away.

export const BAND_LABELS = { near_duplicate: "near-duplicate", similar: "similar", weak: "weak" };

/** The words for a match's band; null for an answer without bands (an index built before them). */
export function bandLabel(band) {
  return Object.prototype.hasOwnProperty.call(BAND_LABELS, band) ? BAND_LABELS[band] : null;
}

/** The answer's thresholds in words, e.g. "near-duplicate ≥ 0.931 · similar ≥ 0.712"; null without. */
export function bandsText(bands) {
  if (!bands || typeof bands.near_duplicate !== "number" || typeof bands.similar !== "number") return null;
  return `near-duplicate ≥ ${bands.near_duplicate.toFixed(3)} · similar ≥ ${bands.similar.toFixed(3)}`;
}

/**
 * Split the answer's match items into the ones shown and the weak ones: returns [list, details]
 * where details (null when no match is weak) holds the weak ones behind "show N weak matches".
 * `items` are [{ node, band }] in answer order; `h` builds elements (views.el bound to a document).
 */
export function foldWeak(h, items, listAttrs) {
  const shown = h("ol", listAttrs);
  const weak = h("ol", { ...listAttrs, className: `${listAttrs.className || ""} weak-results`.trim() });
  for (const { node, band } of items) (band === "weak" ? weak : shown).append(node);
  const count = weak.children.length;
  if (!count) return [shown, null];
  const details = h("details", { className: "weak-fold" },
    h("summary", { text: `show ${count} weak match${count === 1 ? "" : "es"}` }), weak);
  return [shown, details];
}
