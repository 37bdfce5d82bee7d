// The views: build the DOM for each screen with createElement and textContent, never from HTML strings.
// Over 300 lines on purpose: one short view per screen (albums, album, results, upload) sharing the
// tile and timing builders that would otherwise be repeated.
import { MAX_K, MIN_K } from "./k.js";
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

const ERROR_TITLES = {
  unreachable: "The search API is unreachable",
  timeout: "The search timed out",
  bad_response: "The API sent an unexpected answer",
  not_found: "Not found",
};

const STATUS_TITLES = {
  400: "The request was refused",
  404: "No such image",
  413: "The image is too large",
  422: "This file cannot be searched",
  429: "Too many searches right now",
  502: "The search agent failed",
  503: "No search instance is available",
  504: "The search ran out of time",
};

/** Create an element with attributes, properties and children (strings become text nodes). */
export function el(doc, tag, attrs = {}, ...children) {
  const node = doc.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = String(value);
    else if (name === "className") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? doc.createTextNode(child) : child);
  }
  return node;
}

/** The album name and file name of a key such as "albums/marble/x.png" or "gallery/marble/x.png". */
export function splitKey(key) {
  const parts = String(key).split("/");
  return { album: parts.length >= 3 ? parts[parts.length - 2] : "", file: parts[parts.length - 1] };
}

/** A title for a failed call, chosen by the kind of failure and the HTTP status. */
export function errorTitle(error) {
  if (error && error.kind === "answer") return STATUS_TITLES[error.status] || `The API answered HTTP ${error.status}`;
  return ERROR_TITLES[error && error.kind] || "Something went wrong";
}

/** Format milliseconds for people: "12 ms", "1.23 s". */
export function formatMs(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "n/a";
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

/** The album route of a name, and the image route of an album image key with k. */
export function albumHref(name) {
  return `#/album/${encodeURIComponent(name)}`;
}
export function imageHref(key, k) {
  const { album, file } = splitKey(key);
  return `#/album/${encodeURIComponent(album)}/${encodeURIComponent(file)}?k=${k}`;
}
/** "More like this": the route searching a result's gallery image (its key may carry results/). */
export function likeHref(key) {
  const { album, file } = splitKey(key);
  return `#/like/${encodeURIComponent(album)}/${encodeURIComponent(file)}`;
}

/** Bytes for people: "10 MiB", "512 KiB". */
export function formatBytes(bytes) {
  if (bytes >= 1024 * 1024) return `${+(bytes / (1024 * 1024)).toFixed(1)} MiB`;
  return `${Math.max(1, Math.round(bytes / 1024))} KiB`;
}

export const IMAGE_TYPES_TEXT = "JPEG, PNG, GIF, WebP, BMP or TIFF";

/** The views bound to a document: main is the element each screen replaces. */
export function createViews({ doc = document, main, indexInfo }) {
  const h = (tag, attrs, ...children) => el(doc, tag, attrs, ...children);

  function replace(...nodes) {
    main.replaceChildren(...nodes);
  }

  // The query screen's answer area (absent when the route moved on before a search ended).
  function replaceAnswer(...nodes) {
    const answer = main.querySelector("#answer");
    // null stands for "nothing here" (replaceChildren would write it as the text "null").
    if (answer) answer.replaceChildren(...nodes.filter((node) => node !== null && node !== undefined));
  }

  function focusHeading() {
    // Move focus to the new screen's heading so keyboard and screen-reader users follow the route.
    const heading = main.querySelector("h1, h2");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus({ preventScroll: false });
    }
  }

  function breadcrumb(items) {
    const list = h("ol", { className: "crumbs" });
    items.forEach(([label, href], i) => {
      const last = i === items.length - 1;
      list.append(h("li", {}, last || !href
        ? h("span", { "aria-current": last ? "page" : null, text: label })
        : h("a", { href, text: label })));
    });
    return h("nav", { "aria-label": "Breadcrumb" }, list);
  }

  function kSelector(k, onK) {
    const id = "k-select";
    const select = h("select", { id, name: "k", onchange: (e) => onK(Number(e.target.value)) });
    for (let i = MIN_K; i <= MAX_K; i += 1) {
      const option = h("option", { value: i, text: String(i) });
      if (i === k) option.selected = true;
      select.append(option);
    }
    return h("div", { className: "k-picker" },
      h("label", { for: id, text: "Matches (k)" }), select);
  }

  function pixelImage(src, alt, className) {
    return h("img", { src, alt, className: `pixel ${className}`, loading: "lazy", decoding: "async" });
  }

  // Stands in for a match the API could not copy: the same size as an image, with text instead.
  function copyFailedTile(label) {
    return h("div", { className: "result-missing", role: "img", "aria-label": label },
      h("span", { className: "missing-icon", "aria-hidden": "true", text: "!" }),
      h("span", { className: "missing-text", text: "copy failed" }));
  }

  function loadingBox(text) {
    return h("div", { className: "loading", role: "status" },
      h("span", { className: "spinner", "aria-hidden": "true" }), h("span", { text }));
  }

  function errorBox(error, { retry } = {}) {
    const details = [];
    if (error && error.kind === "answer") {
      details.push(`HTTP ${error.status}${error.code ? `, code ${error.code}` : ""}`);
    }
    return h("div", { className: "error", role: "alert", "data-kind": (error && error.kind) || "unknown" },
      h("h2", { text: errorTitle(error) }),
      h("p", { className: "error-message", text: (error && error.message) || String(error) }),
      details.length ? h("p", { className: "error-details", text: details.join("") }) : null,
      retry ? h("button", { type: "button", onclick: retry, text: "Try again" }) : null);
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
      const bits = [`${index.count ?? "?"} images indexed`, index.mode ? `${index.mode} index` : null,
        demo ? null : index.weights_label || null].filter(Boolean);
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
        const count = `${album.count} image${album.count === 1 ? "" : "s"}`;
        list.append(h("li", {},
          h("a", { className: "album-card", href: albumHref(album.name) },
            album.cover ? pixelImage(album.cover, "", "cover") : h("span", { className: "cover empty" }),
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

    /** An album: the k selector and a grid of its images, each a link to its search. */
    showAlbum(album, k, { onK }) {
      const grid = h("ul", { className: "image-grid" });
      for (const key of album.images) {
        const { file } = splitKey(key);
        grid.append(h("li", {},
          h("a", { className: "thumb", href: imageHref(key, k), title: `Find images like ${file}` },
            pixelImage(key, `${album.name}: ${file}`, "thumb-img"))));
      }
      replace(breadcrumb([["Albums", "#/"], [album.name, null]]),
        h("div", { className: "album-head" },
          h("h1", { text: album.name }),
          h("p", { className: "hint", text: "Pick an image to find the ones that look most like it." }),
          kSelector(k, onK)),
        grid);
      focusHeading();
    },

    /** The query screen: the chosen image, the k selector and an empty answer area. */
    showQuery(album, key, k, { onK, onSearch }, src = key) {
      const { file } = splitKey(key);
      const answer = h("section", { className: "answer", "aria-live": "polite", id: "answer" });
      replace(breadcrumb([["Albums", "#/"], [album, albumHref(album)], [file, null]]),
        h("div", { className: "query" },
          h("figure", { className: "query-figure" },
            pixelImage(src, `query: ${album}/${file}`, "query-img"),
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
      const input = h("input", { type: "file", id: "upload-input", accept: "image/*", className: "visually-hidden",
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
              text: `${IMAGE_TYPES_TEXT}, up to ${formatBytes(maxBytes)}. It is kept privately for a day.` }),
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
      figure.replaceChildren(h("img", { src, alt: `your image: ${name}`, className: "query-img upload-img" }),
        h("figcaption", { text: name }));
    },

    /** Upload progress: a fraction 0..1, or null when the browser cannot tell (a staged indicator). */
    showUploadProgress(fraction) {
      const known = typeof fraction === "number" && Number.isFinite(fraction);
      const bar = h("progress", { id: "upload-progress", max: "100" });
      if (known) bar.value = Math.round(fraction * 100);
      replaceAnswer(h("div", { className: "loading", role: "status" },
        h("label", { for: "upload-progress", text: known ? `Uploading… ${Math.round(fraction * 100)}%` : "Uploading…" }),
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
            copied ? pixelImage(match.url, `match: ${album}/${file}`, "result-img")
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
