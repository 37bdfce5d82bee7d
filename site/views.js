// The views: one function per screen (home, query, answer, upload; the album screen is album_view.js),
// built from view_parts.js with createElement and textContent, never from HTML strings. A new
// screen is a new method here (or a module of its own, like album_view.js) using the same parts.
import { createAlbumView } from "./album_view.js";
import { IMAGE_TYPES_TEXT, UPLOAD_ACCEPT } from "./upload_file.js";
import { splitKey, thumbUrl } from "./urls.js";
import {
  albumHref, createParts, formatBytes, formatMs, imagesText, likeHref,
} from "./view_parts.js";
import { bandLabel, bandsText, foldWeak } from "./bands.js";
import { duplicatesLink, duplicatesScreen } from "./duplicates.js";

const TIMING_ROWS = [
  ["cache_read", "cache read"],
  ["ssm_send", "SSM send"],
  ["ssm_wait", "SSM wait (agent)"],
  ["search", "search on the instance"],
  ["copy", "copy matches"],
  ["total", "total"],
];

// Where the answer came from (docs/contracts.md, the answer's `path`).
const PATH_LABELS = {
  cache: "cached",
  warm: "warm daemon via SSM",
  cold: "cold path via SSM",
};

/** The views bound to a document: main is the element each screen replaces. */
export function createViews({ doc = document, main, indexInfo }) {
  const parts = createParts(doc, main);
  const { h, replace, replaceAnswer, focusHeading, breadcrumb, kSelector, photo, loadingBox, errorBox } = parts;

  // Stands in for a match the API could not copy: the same size as an image, with text instead.
  function copyFailedTile(label) {
    return h("div", { className: "result-missing", role: "img", "aria-label": label },
      h("span", { className: "missing-icon", "aria-hidden": "true", text: "!" }),
      h("span", { className: "missing-text", text: "copy failed" }));
  }

  // An image that fails to load (no preview yet, or a format this browser cannot show) becomes a box
  // of the same size saying so, never a broken-image icon.
  function withFallback(img, text) {
    img.addEventListener("error", () => img.replaceWith(h("div", { className: "query-img no-preview", role: "img",
      "aria-label": `${img.alt}, no preview`, text })));
    return img;
  }

  // One paste listener for the document; it acts only while the upload screen is shown.
  let pasteTarget = null;
  doc.addEventListener("paste", (e) => {
    if (!pasteTarget || !main.querySelector("#upload-drop")) return;
    const items = [...((e.clipboardData && e.clipboardData.files) || [])];
    if (items.length) {
      e.preventDefault();
      pasteTarget(items[0]);
    }
  });

  return {
    ...createAlbumView({ doc, main, parts }),

    /** Show the index description; label demo (seeded) weights plainly, other weights by their label. */
    setIndexInfo(index) {
      indexInfo.replaceChildren();
      if (!index) return;
      // An albums.json from before `demo` existed: not pretrained meant seeded.
      const demo = index.demo ?? index.pretrained === false;
      if (demo) {
        indexInfo.append(h("span", { className: "badge warn", text: "demo weights, not pretrained" }));
      }
      // With demo weights the badge already says it; the label would repeat it.
      // The version names the index the page lists: it changes with every new version (a re-index).
      const bits = [`${index.count ?? "?"} images indexed`, index.mode ? `${index.mode} index` : null,
        demo ? null : index.weights_label || null, index.version ? `index ${index.version}` : null]
        .filter(Boolean);
      indexInfo.append(h("span", { className: "index-text", text: bits.join(" · ") }));
    },

    /** A loading state that replaces the whole screen. */
    showLoading(text) {
      replace(loadingBox(text));
    },

    /** An error that replaces the whole screen. */
    showError(error, options) {
      replace(errorBox(error, options));
      focusHeading();
    },

    /** Home: one card per album with its cover and image count. */
    showHome(albums) {
      const list = h("ul", { className: "album-list" });
      for (const album of albums) {
        const count = imagesText(album.count ?? 0);
        list.append(h("li", {},
          h("a", { className: "album-card", href: albumHref(album.name) },
            album.cover ? photo(thumbUrl(album.cover), "", "cover") : h("span", { className: "cover empty" }),
            h("span", { className: "album-name", text: album.name }),
            h("span", { className: "album-count", text: count }))));
      }
      replace(
        h("p", { className: "own-image" },
          h("a", { className: "primary-link", href: "#/upload", text: "Search with your own image" })),
        h("h1", { text: "Albums" }),
        albums.length ? list : h("p", { text: "No albums were published." }));
      focusHeading();
    },

    /** The query screen: the chosen image, the k selector and an empty answer area. */
    showQuery(album, key, k, { onK, onSearch }, src) {
      const { file } = splitKey(key);
      const answer = h("section", { className: "answer", "aria-live": "polite", id: "answer" });
      replace(breadcrumb([["Albums", "#/"], [album, albumHref(album)], [file, null]]),
        h("div", { className: "query" },
          h("figure", { className: "query-figure" },
            withFallback(photo(src, `query: ${album}/${file}`, "query-img"), "No preview of this image."),
            h("figcaption", { text: file })),
          h("div", { className: "query-side" },
            h("h1", { text: `Images like ${file}` }),
            kSelector(k, onK),
            h("button", { type: "button", className: "primary", onclick: onSearch, text: "Search again" }))),
        answer);
      focusHeading();
    },

    /** "Search with your own image": file picker, drop zone, paste, k, a preview and the answer area. */
    showUpload(k, { onK, onFile, maxBytes }) {
      const input = h("input", { type: "file", id: "upload-input", accept: UPLOAD_ACCEPT, className: "visually-hidden",
        onchange: (e) => { if (e.target.files && e.target.files[0]) onFile(e.target.files[0]); } });
      const drop = h("div", { className: "drop-zone", id: "upload-drop", tabindex: "0",
        "aria-describedby": "upload-hint",
        ondragover: (e) => { e.preventDefault(); drop.classList.add("over"); },
        ondragleave: () => drop.classList.remove("over"),
        ondrop: (e) => {
          e.preventDefault();
          drop.classList.remove("over");
          const files = e.dataTransfer && e.dataTransfer.files;
          if (files && files[0]) onFile(files[0]);
        },
        onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } } },
      h("label", { for: "upload-input", className: "button", text: "Choose an image" }),
      h("span", { text: " or drop it here, or paste it (Ctrl+V)." }),
      input);
      pasteTarget = onFile;
      replace(breadcrumb([["Albums", "#/"], ["Your image", null]]),
        h("div", { className: "query" },
          h("figure", { className: "query-figure", id: "upload-preview", hidden: true }),
          h("div", { className: "query-side" },
            h("h1", { text: "Search with your own image" }),
            h("p", { className: "hint", id: "upload-hint",
              text: `${IMAGE_TYPES_TEXT}, up to ${formatBytes(maxBytes)}. Large photos are scaled down to `
                + "about 1280 pixels before they are sent. Your image is kept privately for a day." }),
            drop,
            kSelector(k, onK))),
        h("section", { className: "answer", "aria-live": "polite", id: "answer" }));
      focusHeading();
    },

    /** The chosen image, shown before and while it uploads. */
    showUploadPreview(src, name) {
      const figure = main.querySelector("#upload-preview");
      if (!figure) return;
      figure.hidden = false;
      // A format this browser cannot show (HEIC in most) still goes to the search: say so instead.
      const img = withFallback(h("img", { src, alt: `your image: ${name}`, className: "query-img upload-img" }),
        "No preview in this browser; it is searched all the same.");
      figure.replaceChildren(img, h("figcaption", { text: name }));
    },

    /** While a large photo is scaled down in the browser, before its upload. */
    showPreparing(name) {
      replaceAnswer(loadingBox(`Scaling ${name || "your image"} down for the upload…`));
    },

    /**
     * Upload progress: a fraction 0..1, or null when the browser cannot tell (a staged indicator);
     * sizes {sent, original} say what crosses the link when the photo was scaled down.
     */
    showUploadProgress(fraction, { sent = 0, original = 0 } = {}) {
      const known = typeof fraction === "number" && Number.isFinite(fraction);
      const bar = h("progress", { id: "upload-progress", max: "100" });
      if (known) bar.value = Math.round(fraction * 100);
      const from = original > sent ? ` (scaled down from ${formatBytes(original)})` : "";
      const size = sent ? ` ${formatBytes(sent)}${from}` : "";
      replaceAnswer(h("div", { className: "loading", role: "status" },
        h("label", { for: "upload-progress",
          text: `Uploading${size}… ${known ? `${Math.round(fraction * 100)}%` : ""}`.trim() }),
        bar));
    },

    /** The loading state of a running search. */
    showSearching(k) {
      replaceAnswer(loadingBox(`Searching for ${k} match${k === 1 ? "" : "es"}…`));
    },

    /** A failed search, shown under the query image. */
    showSearchError(error, { retry } = {}) {
      replaceAnswer(errorBox(error, { retry }));
    },

    // >>> duplicates (issue 23): the Duplicates view and its link on the home page (site/duplicates.js)
    /** The Duplicates view of a duplicates.json. */
    showDuplicates(data) {
      replace(breadcrumb([["Albums", "#/"], ["Duplicates", null]]), ...duplicatesScreen(h, data));
      focusHeading();
    },

    /** On the home page (if it is still shown), a link to the Duplicates view with its group count. */
    showDuplicatesLink(count) {
      const anchor = main.querySelector(".own-image");
      if (anchor && !main.querySelector(".duplicates-link")) anchor.after(duplicatesLink(h, count));
    },
    // <<< duplicates

    /** The k matches with their scores and bands (weak ones folded), and where the time went. */
    showAnswer(result) {
      const items = []; // [{ node, band }]: folded by band below (site/bands.js)
      for (const match of result.results) {
        const { album, file } = splitKey(match.key);
        const score = typeof match.score === "number" ? match.score.toFixed(3) : "n/a";
        // A match whose copy failed has no url (docs/contracts.md, "HTTP API"): say so, no broken image.
        const copied = typeof match.url === "string" && match.url !== "";
        const band = bandLabel(match.band);
        items.push({ band: match.band, node: h("li", { className: copied ? "result" : "result copy-failed" },
          h("figure", {},
            copied ? photo(match.url, `match: ${album}/${file}`, "result-img")
              : copyFailedTile(`match: ${album}/${file}, copy failed`),
            h("figcaption", {},
              h("span", { className: "score", text: `score ${score}` }),
              band ? h("span", { className: `band band-${match.band}`, text: band }) : null,
              h("span", { className: "result-name", title: `${album}/${file}`, text: file }),
              match.url ? h("a", { className: "more-like", href: likeHref(match.key),
                title: `Find images like ${file}`, text: "More like this" }) : null))) });
      }
      const [row, weakFold] = foldWeak(h, items, { className: "results" });
      const timings = result.timings_ms || {};
      const total = typeof timings.total === "number" && timings.total > 0 ? timings.total : 0;
      const table = h("table", { className: "timings" },
        h("caption", { text: "Where the time went" }),
        // Only the stages this answer went through: a cached answer has no SSM or search rows.
        h("tbody", {}, TIMING_ROWS.filter(([name]) => typeof timings[name] === "number").map(([name, label]) => {
          const value = timings[name];
          const bar = h("span", { className: "bar" });
          if (total && typeof value === "number") bar.style.width = `${Math.min(100, (100 * value) / total)}%`;
          return h("tr", { className: `timing-${name}` },
            h("th", { scope: "row", text: label }),
            h("td", { className: "ms", text: formatMs(value) }),
            h("td", { className: "bar-cell", "aria-hidden": "true" }, bar));
        })));
      const meta = [];
      if (result.index && result.index.mode) meta.push(`${result.index.mode} index`);
      if (result.index && result.index.version) meta.push(`version ${result.index.version}`);
      if (result.index && bandsText(result.index.bands)) meta.push(bandsText(result.index.bands)); // issue 23
      if (result.request_id) meta.push(`request ${result.request_id}`);
      const failed = items.filter(({ node }) => node.classList.contains("copy-failed")).length;
      replaceAnswer(
        h("h2", { text: `${result.results.length} match${result.results.length === 1 ? "" : "es"}` }),
        failed ? h("p", { className: "copy-note", text: `${failed} of them could not be copied for display; `
          + "searching again may bring them back." }) : null,
        result.results.length ? row : h("p", { text: "No matches." }),
        weakFold,
        table,
        h("p", { className: "answer-meta" },
          result.path ? h("span", { className: `badge path-${result.path}`,
            text: PATH_LABELS[result.path] || `${result.path} path` }) : null,
          h("span", { text: meta.join(" · ") })));
    },
  };
}
