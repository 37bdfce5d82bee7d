// The album screen: its heading, what could not be read, a grid of thumbnails appended page by page
// (each fetched when it comes near the viewport) and the "show more" area.
import { imageHref, imagesText, skippedText } from "./view_parts.js";
import { splitKey, thumbUrl } from "./urls.js";

// Album tiles fetch their thumbnail when they come this close to the viewport, not all at once.
const LAZY_MARGIN = "200px 0px";

/** The album screen's views, built from the parts (view_parts.js createParts). */
export function createAlbumView({ doc, main, parts }) {
  const { h, replace, focusHeading, breadcrumb, kSelector, sharpenIfSmall, photo, errorBox } = parts;

  let lazy = null; // the album grid's IntersectionObserver, one per shown album
  // "Show more" hides while it loads: the keyboard then continues at the first tile it added.
  let continueFromMore = false;

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

  return {
    /**
     * An album's frame: its heading, the k selector, what could not be read, an empty grid and the
     * "show more" area. Tiles come with addAlbumTiles, page by page, as the controller loads them.
     */
    showAlbum(album, k, { onK, onMore }) {
      startLazy();
      continueFromMore = false;
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
          h("button", { type: "button", id: "show-more", hidden: true,
            onclick: () => { continueFromMore = true; onMore(); } })));
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
      if (continueFromMore && items.length) items[0].querySelector("a").focus();
      continueFromMore = false;
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
  };
}
