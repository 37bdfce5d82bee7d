// The views: build the DOM for each screen with createElement and textContent, never from HTML strings.
// Over 300 lines on purpose: one short view per screen (albums, album, results, upload) sharing the
// tile and timing builders that would otherwise be repeated.
import { MAX_K, MIN_K } from "./k.js";
import { IMAGE_TYPES_TEXT, UPLOAD_ACCEPT } from "./upload_file.js";
import { splitKey, thumbUrl } from "./urls.js";

export { IMAGE_TYPES_TEXT, splitKey };

// Album tiles fetch their thumbnail when they come this close to the viewport, not all at once.
const LAZY_MARGIN = "200px 0px";

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

/** "1 file could not be read", "3 files could not be read". */
export function skippedText(count) {
  return `${count} file${count === 1 ? "" : "s"} could not be read`;
}

/** "1 image", "10,000 images". */
export function imagesText(count) {
  return `${Number(count).toLocaleString("en")} image${count === 1 ? "" : "s"}`;
}

/** The views bound to a document: main is the element each screen replaces. */
export function createViews({ doc = document, main, indexInfo }) {
  const h = (tag, attrs, ...children) => el(doc, tag, attrs, ...children);

  // replaceChildren writes null as the text "null": optional parts are left out here instead.
  const present = (nodes) => nodes.filter((node) => node !== null && node !== undefined && node !== false);

  function replace(...nodes) {
    main.replaceChildren(...present(nodes));
  }

  // The query screen's answer area (absent when the route moved on before a search ended).
  function replaceAnswer(...nodes) {
    const answer = main.querySelector("#answer");
    if (answer) answer.replaceChildren(...present(nodes));
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

  // A small source (the 28 px demo textures) is scaled up crisply; a photo is smoothed as usual.
  function sharpenIfSmall(e) {
    const img = e.target;
    img.classList.toggle("pixel", img.naturalWidth > 0 && img.naturalWidth * 1.5 < img.clientWidth);
  }

  function photo(src, alt, className) {
    return h("img", { src, alt, className: `photo ${className}`, loading: "lazy", decoding: "async",
      onload: sharpenIfSmall });
  }

  let lazy = null; // the album grid's IntersectionObserver, one per shown album

  function lazyPhoto(src, alt, className) {
    const view = doc.defaultView;
    if (!lazy || !view || typeof view.IntersectionObserver !== "function") return photo(src, alt, className);
    const img = h("img", { alt, className: `photo ${className}`, decoding: "async", "data-src": src,
      onload: sharpenIfSmall });
    lazy.observe(img);
    return img;
  }

  function startLazy() {
    if (lazy) lazy.disconnect();
    const view = doc.defaultView;
    lazy = view && typeof view.IntersectionObserver === "function"
      ? new view.IntersectionObserver((entries, observer) => {
        for (const entry of entries) {
          if (!entry.isIntersecting) continue;
          entry.target.src = entry.target.dataset.src;
          observer.unobserve(entry.target);
        }
      }, { rootMargin: LAZY_MARGIN }) : null;
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

  function errorBox(error, { retry, title } = {}) {
    const details = [];
    if (error && error.kind === "answer") {
      details.push(`HTTP ${error.status}${error.code ? `, code ${error.code}` : ""}`);
    }
    return h("div", { className: "error", role: "alert", "data-kind": (error && error.kind) || "unknown" },
      h("h2", { text: title || errorTitle(error) }),
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

    /**
     * An album's frame: its heading, the k selector, what could not be read, an empty grid and the
     * "show more" area. Tiles come with addAlbumTiles, page by page, as the controller loads them.
     */
    showAlbum(album, k, { onK, onMore }) {
      startLazy();
      const skipped = Number.isInteger(album.skipped) && album.skipped > 0
        ? h("p", { className: "album-note", id: "album-skipped",
          text: `${skippedText(album.skipped)} (not an image, damaged or too large) and are left out.` })
        : null;
      replace(breadcrumb([["Albums", "#/"], [album.name, null]]),
        h("div", { className: "album-head" },
          h("h1", { text: album.name }),
          h("p", { className: "hint", text: "Pick an image to find the ones that look most like it." }),
          kSelector(k, onK)),
        skipped,
        h("ul", { className: "image-grid", id: "album-grid" }),
        h("div", { className: "album-more", id: "album-more" },
          h("p", { className: "album-status", id: "album-status", role: "status" }),
          h("button", { type: "button", id: "show-more", hidden: true, onclick: onMore })));
      focusHeading();
    },

    /** Append album tiles (gallery keys), each a link to its search with k. */
    addAlbumTiles(album, keys, k) {
      const grid = main.querySelector("#album-grid");
      if (!grid) return;
      const items = keys.map((key) => {
        const { file } = splitKey(key);
        return h("li", { "data-file": file },
          h("a", { className: "thumb", href: imageHref(key, k), title: `Find images like ${file}`,
            "data-key": key },
          lazyPhoto(thumbUrl(key), `${album}: ${file}`, "thumb-img")));
      });
      grid.append(...items);
    },

    /** Point every tile at the search with this k. */
    setTileK(k) {
      for (const link of main.querySelectorAll("#album-grid a.thumb")) link.href = imageHref(link.dataset.key, k);
    },

    /**
     * How much of the album is shown, and the way to the rest: {shown, total, next (images the button
     * adds, 0 when all are shown), loading, error, retry}.
     */
    setAlbumProgress({ shown, total, next = 0, loading = false, error = null, retry = null }) {
      const status = main.querySelector("#album-status");
      const button = main.querySelector("#show-more");
      if (!status || !button) return;
      const area = status.parentElement;
      for (const old of area.querySelectorAll(".error")) old.remove();
      if (total === 0 && !loading && !error) {
        status.textContent = "This album has no images yet.";
      } else {
        status.textContent = loading ? `Showing ${shown.toLocaleString("en")} of ${imagesText(total)}; loading more…`
          : `Showing ${shown.toLocaleString("en")} of ${imagesText(total)}.`;
      }
      button.hidden = !next || loading || Boolean(error);
      button.textContent = `Show ${next.toLocaleString("en")} more`;
      if (error) {
        const box = errorBox(error, { retry, title: "Part of this album could not be loaded" });
        area.append(box);
      }
    },

    /** Bring a tile into view and focus it (coming back from its search). */
    focusTile(file) {
      const item = [...main.querySelectorAll("#album-grid li")].find((li) => li.dataset.file === file);
      const link = item && item.querySelector("a");
      if (!link) return;
      link.focus({ preventScroll: true });
      link.scrollIntoView({ block: "center" });
    },

    /** The query screen: the chosen image, the k selector and an empty answer area. */
    showQuery(album, key, k, { onK, onSearch }, src) {
      const { file } = splitKey(key);
      const answer = h("section", { className: "answer", "aria-live": "polite", id: "answer" });
      replace(breadcrumb([["Albums", "#/"], [album, albumHref(album)], [file, null]]),
        h("div", { className: "query" },
          h("figure", { className: "query-figure" },
            photo(src, `query: ${album}/${file}`, "query-img"),
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
      const noPreview = () => img.replaceWith(h("div", { className: "query-img no-preview", role: "img",
        "aria-label": `your image: ${name}, no preview`, text: "No preview in this browser; it is searched all the same." }));
      const img = h("img", { src, alt: `your image: ${name}`, className: "query-img upload-img", onerror: noPreview });
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
      const size = sent ? ` ${formatBytes(sent)}${original > sent ? ` (scaled down from ${formatBytes(original)})` : ""}`
        : "";
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

    /** The k matches with their scores, and where the time went. */
    showAnswer(result) {
      const row = h("ol", { className: "results" });
      for (const match of result.results) {
        const { album, file } = splitKey(match.key);
        const score = typeof match.score === "number" ? match.score.toFixed(3) : "n/a";
        // A match whose copy failed has no url (docs/contracts.md, "HTTP API"): say so, no broken image.
        const copied = typeof match.url === "string" && match.url !== "";
        row.append(h("li", { className: copied ? "result" : "result copy-failed" },
          h("figure", {},
            copied ? photo(match.url, `match: ${album}/${file}`, "result-img")
              : copyFailedTile(`match: ${album}/${file}, copy failed`),
            h("figcaption", {},
              h("span", { className: "score", text: `score ${score}` }),
              h("span", { className: "result-name", title: `${album}/${file}`, text: file }),
              match.url ? h("a", { className: "more-like", href: likeHref(match.key),
                title: `Find images like ${file}`, text: "More like this" }) : null))));
      }
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
      if (result.request_id) meta.push(`request ${result.request_id}`);
      const failed = row.querySelectorAll(".copy-failed").length;
      replaceAnswer(
        h("h2", { text: `${result.results.length} match${result.results.length === 1 ? "" : "es"}` }),
        failed ? h("p", { className: "copy-note", text: `${failed} of them could not be copied for display; `
          + "searching again may bring them back." }) : null,
        result.results.length ? row : h("p", { text: "No matches." }),
        table,
        h("p", { className: "answer-meta" },
          result.path ? h("span", { className: `badge path-${result.path}`,
            text: PATH_LABELS[result.path] || `${result.path} path` }) : null,
          h("span", { text: meta.join(" · ") })));
    },
  };
}
