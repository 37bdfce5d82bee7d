// The pieces every screen is built from: elements, titles, links, formats, and the builders bound to
// a document (breadcrumb, k selector, photo, loading and error boxes). DOM by createElement and
// textContent only, never from HTML strings.
import { MAX_K, MIN_K } from "./k.js";
import { splitKey } from "./urls.js";

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

/** The builders bound to a document, and main, the element each screen replaces. */
export function createParts(doc, main) {
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

  return { h, replace, replaceAnswer, focusHeading, breadcrumb, kSelector, sharpenIfSmall, photo, loadingBox,
           errorBox };
}
