// The local stack's operator panel: what a re-index does, its progress, its outcome. DOM only (no
// network); reindex_control.js feeds it the progress documents of GET /local/reindex.
import { el } from "./view_parts.js";

function capitalised(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** "about 12 s left", "about 3 min left"; "" when unknown. */
export function etaText(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return "";
  if (seconds < 1) return "less than a second left";
  if (seconds < 90) return `about ${Math.round(seconds)} s left`;
  return `about ${Math.round(seconds / 60)} min left`;
}

/** "8 of 20 images · 5.1 images/s · about 3 s left" (the parts that are known). */
export function countsText(progress) {
  const parts = [];
  if (Number.isInteger(progress.total)) {
    parts.push(`${progress.done} of ${progress.total} image${progress.total === 1 ? "" : "s"}`);
  }
  if (typeof progress.images_per_s === "number") parts.push(`${progress.images_per_s.toFixed(1)} images/s`);
  // The ETA is the featurizing's: once every image has its shard the run is assembling, not waiting.
  if (progress.state === "running" && progress.done < progress.total) {
    const eta = etaText(progress.eta_s);
    if (eta) parts.push(eta);
  }
  return parts.join(" · ");
}

/** The one line that says where a run is. */
export function statusText(progress) {
  if (!progress || progress.state === "idle") return "No re-index has run since the stack started.";
  if (progress.state === "done") {
    const took = typeof progress.elapsed_s === "number" ? ` in ${progress.elapsed_s.toFixed(1)} s` : "";
    return `done: index ${progress.version}${took}`;
  }
  if (progress.state === "failed") return "The re-index stopped.";
  const phase = progress.phase ? capitalised(progress.phase) : "Running";
  return `${phase}…`;
}

/** The panel bound to a document: `element` to place on the page, show* to update it. */
export function createReindexPanel({ doc = document } = {}) {
  const h = (tag, attrs, ...children) => el(doc, tag, attrs, ...children);
  const button = h("button", { type: "button", className: "primary", id: "reindex-start", text: "Re-index" });
  const bar = h("progress", { id: "reindex-progress", max: "1", value: "0", "aria-label": "Re-index progress" });
  const status = h("p", { className: "operator-status", id: "reindex-status", role: "status",
    "aria-live": "polite", text: statusText(null) });
  const counts = h("p", { className: "operator-counts", id: "reindex-counts" });
  const error = h("p", { className: "operator-error", id: "reindex-error", role: "alert", hidden: true });
  const element = h("aside", { className: "operator", "aria-labelledby": "reindex-title" },
    h("h2", { id: "reindex-title", text: "Operator: re-index (local stack only)" }),
    h("p", { className: "operator-what",
      text: "Featurizes every gallery image again through the featurize function (its local containers, "
        + "fed by the queue), then publishes the result as a new index version: the label above changes "
        + "when it is live." }),
    h("div", { className: "operator-row" }, button, bar, status),
    counts, error);

  function showError(message) {
    error.textContent = message;
    error.hidden = !message;
  }

  return {
    element,

    /** Call `start` when the Re-index button is pressed. */
    onStart(start) {
      button.addEventListener("click", () => start());
    },

    /** The button pressed: nothing known yet. */
    showStarting() {
      button.disabled = true;
      showError("");
      status.textContent = "Starting…";
    },

    /** A progress document (GET /local/reindex); `notice`: a message kept while the run goes on. */
    show(progress, notice = "") {
      const running = progress.state === "running";
      button.disabled = running;
      status.textContent = statusText(progress);
      counts.textContent = countsText(progress);
      if (Number.isInteger(progress.total) && progress.total > 0) {
        bar.max = progress.total;
        bar.value = progress.done;
      } else if (running) {
        bar.removeAttribute("value"); // indeterminate until the run's size is known
      }
      // The status line says it stopped; the box says why, as the stack put it.
      showError(progress.state === "failed" ? capitalised(progress.error || "no reason was given")
        : (running && notice) || "");
    },

    /** A call that failed (the start refused, the progress unreadable); the button stays usable
     * unless a run is under way. */
    showError(message, { running = false } = {}) {
      button.disabled = running;
      if (!running) status.textContent = "The re-index did not start.";
      showError(capitalised(message));
    },
  };
}
