// The controller: hash routes to screens, given an api and views so it can run against stubs.
import { DEFAULT_K, clampK } from "./k.js";
import { IMAGE_TYPES_TEXT, imageType } from "./upload_file.js";
import { galleryKey, previewUrl } from "./urls.js";

// The API's default upload limit, shown before the first upload form says the real one.
export const DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024;
// The listing's page size when albums.json does not say (docs/contracts.md, "Site bucket").
const DEFAULT_PAGE_SIZE = 100;

/** What to tell the user when their image cannot be searched, by error code (undefined: keep the API's). */
export function uploadAdvice(code, { size = 0, maxBytes = DEFAULT_MAX_UPLOAD_BYTES } = {}) {
  const mib = (n) => `${+(n / (1024 * 1024)).toFixed(1)} MiB`;
  if (code === "too_large") {
    return `This image${size ? ` is ${mib(size)},` : " is"} over the limit of ${mib(maxBytes)}. `
      + "Choose a smaller image, or resize it and try again.";
  }
  if (code === "bad_image") {
    return `This file is not an image that can be searched. Choose a ${IMAGE_TYPES_TEXT} file.`;
  }
  return undefined;
}

/** Parse a location hash: #/ , #/album/<name> , #/album/<name>/<file>?k=N , #/duplicates. */
export function parseRoute(hash) {
  const raw = String(hash || "").replace(/^#/, "");
  const [path, query = ""] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return null; // a malformed escape is an unknown route, not a crash
    }
  });
  if (parts.includes(null)) return { name: "unknown" };
  const params = new URLSearchParams(query);
  if (parts.length === 0) return { name: "home" };
  if (parts[0] === "album" && parts.length === 2) return { name: "album", album: parts[1] };
  if (parts[0] === "album" && parts.length === 3) {
    return { name: "image", album: parts[1], file: parts[2], k: params.has("k") ? clampK(params.get("k")) : null };
  }
  if (parts[0] === "like" && parts.length === 3) return { name: "like", album: parts[1], file: parts[2] };
  if (parts[0] === "upload" && parts.length === 1) return { name: "upload" };
  if (parts[0] === "duplicates" && parts.length === 1) return { name: "duplicates" };
  return { name: "unknown" };
}

/** The gallery keys of a listing page's images (entries without a key are left out). */
export function listingKeys(listing) {
  return listing.images.map((image) => (typeof image === "string" ? image : image && image.key))
    .filter((key) => typeof key === "string" && key !== "");
}

/**
 * The application: call start() once; it renders the current route and follows hash changes.
 * prepareUpload(file) gives the file to send ({file, original, scaled}); main.js passes the
 * browser-side downscale, tests may pass anything.
 */
export function createApp({ api, views, win = window,
                            prepareUpload = async (file) => ({ file, original: file, scaled: false }) }) {
  let catalog = null; // albums.json once loaded
  let k = DEFAULT_K;
  let generation = 0; // bumps on every route so a late answer never paints over a newer screen
  // Each album's loaded listing pages, kept while the page is open: back from a search shows the same
  // tiles at once, and the tile last searched is brought into view.
  const albumStates = new Map();
  let shownAlbum = null; // the album whose grid is on screen: where a late listing page goes

  async function loadCatalog() {
    if (!catalog) {
      const data = await api.albums();
      if (!data || !Array.isArray(data.albums)) {
        throw Object.assign(new Error("albums.json has no album list."), { kind: "bad_response" });
      }
      catalog = data;
      views.setIndexInfo(data.index || null);
    }
    return catalog;
  }

  // >>> duplicates (issue 23): duplicates.json, loaded once; its group count is linked from home.
  let duplicates = null;
  async function loadDuplicates() {
    if (!duplicates) duplicates = await api.duplicates();
    return duplicates;
  }

  async function showDuplicateCount(mine) {
    if (typeof api.duplicates !== "function") return;
    try {
      const data = await loadDuplicates();
      const groups = data && Array.isArray(data.groups) ? data.groups.length : 0;
      if (mine === generation && groups) views.showDuplicatesLink(groups);
    } catch {
      // No duplicates.json yet (a site published before it): home simply has no link.
    }
  }
  // <<< duplicates

  function findAlbum(name) {
    return catalog.albums.find((a) => a.name === name) || null;
  }

  async function search(key, mine) {
    views.showSearching(k);
    try {
      const answer = await api.search(key, k);
      if (mine === generation) views.showAnswer(answer);
    } catch (error) {
      if (mine === generation) views.showSearchError(error, { retry: () => search(key, mine) });
    }
  }

  async function render() {
    generation += 1;
    const mine = generation;
    const route = parseRoute(win.location.hash);
    shownAlbum = null;
    if (!catalog) views.showLoading("Loading albums…");
    try {
      await loadCatalog();
    } catch (error) {
      if (mine === generation) views.showError(error, { retry: () => render() });
      return;
    }
    if (mine !== generation) return;

    if (route.name === "home") {
      views.showHome(catalog.albums);
      showDuplicateCount(mine);
    } else if (route.name === "duplicates") {
      views.showLoading("Loading duplicates…");
      try {
        const data = await loadDuplicates();
        if (mine === generation) views.showDuplicates(data);
      } catch (error) {
        if (mine === generation) views.showError(error, { retry: () => render() });
      }
    } else if (route.name === "album") {
      const album = findAlbum(route.album);
      if (!album) return showMissing(`There is no album called “${route.album}”.`);
      await showAlbum(album);
    } else if (route.name === "image") {
      if (route.k !== null) k = route.k;
      const key = galleryKey(route.album, route.file);
      albumState(route.album).lastFile = route.file;
      views.showQuery(route.album, key, k, {
        onK: (value) => {
          k = clampK(value);
          // A new k is a new search: give it its own history entry so back returns to the previous one.
          win.location.hash = `#/album/${encodeURIComponent(route.album)}/${encodeURIComponent(route.file)}?k=${k}`;
        },
        onSearch: () => search(key, generation),
      }, previewUrl(route.album, route.file));
      await search(key, mine);
    } else if (route.name === "like") {
      // "More like this": the result's gallery image, shown by its preview.
      const key = galleryKey(route.album, route.file);
      views.showQuery(route.album, key, k, {
        onK: (value) => { k = clampK(value); search(key, generation); },
        onSearch: () => search(key, generation),
      }, previewUrl(route.album, route.file));
      await search(key, mine);
    } else if (route.name === "upload") {
      let last = null; // the last chosen file, searched again when k changes
      views.showUpload(k, {
        maxBytes,
        onK: (value) => { k = clampK(value); if (last) searchFile(last, generation); },
        onFile: (file) => { last = file; searchFile(file, generation); },
      });
    } else {
      showMissing("This page does not exist.");
    }
  }

  function albumState(name) {
    if (!albumStates.has(name)) {
      albumStates.set(name, { keys: [], loaded: 0, pages: null, count: null, loading: null, lastFile: null });
    }
    return albumStates.get(name);
  }

  /** An album's listing pages: albums.json says how many; an older albums.json lists the images inline. */
  function albumPages(album) {
    if (Number.isInteger(album.pages) && album.pages >= 0) return album.pages;
    return Array.isArray(album.images) ? 1 : 0;
  }

  function albumProgress(album, state, extra = {}) {
    const pageSize = Number.isInteger(album.page_size) && album.page_size > 0 ? album.page_size : DEFAULT_PAGE_SIZE;
    const count = state.count ?? album.count;
    const total = Math.max(Number.isInteger(count) ? count : 0, state.keys.length);
    const more = state.loaded < state.pages;
    const next = more ? Math.max(1, Math.min(pageSize, total - state.keys.length)) : 0;
    views.setAlbumProgress({ shown: state.keys.length, total, next, ...extra });
  }

  /** Draw the album with what is loaded so far, then load its first page if none is. */
  async function showAlbum(album) {
    const state = albumState(album.name);
    if (state.pages === null) state.pages = albumPages(album);
    shownAlbum = album.name;
    views.showAlbum(album, k, {
      onK: (value) => { k = clampK(value); views.setTileK(k); },
      onMore: () => loadMore(album, state),
    });
    views.addAlbumTiles(album.name, state.keys, k);
    albumProgress(album, state, { loading: Boolean(state.loading) });
    if (state.lastFile) views.focusTile(state.lastFile);
    if (state.loaded === 0 && state.pages > 0) await loadMore(album, state);
  }

  /**
   * Load the album's next listing page and append its tiles to the album's grid if it is on screen
   * (also when the user left and came back meanwhile); a failure is shown with a retry.
   */
  async function loadMore(album, state) {
    if (state.loading || state.loaded >= state.pages) return;
    const page = state.loaded + 1;
    state.loading = page;
    albumProgress(album, state, { loading: true });
    try {
      const listing = Array.isArray(album.images) && !Number.isInteger(album.pages)
        ? { images: album.images, pages: 1 } : await api.listing(album.name, page);
      const keys = listingKeys(listing);
      state.keys.push(...keys);
      state.loaded = page;
      // The listing is newer than albums.json when the album grew or shrank since it was loaded.
      if (Number.isInteger(listing.pages) && listing.pages >= 0) state.pages = listing.pages;
      if (Number.isInteger(listing.count) && listing.count >= 0) state.count = listing.count;
      state.loading = null;
      if (shownAlbum !== album.name) return;
      views.addAlbumTiles(album.name, keys, k);
      albumProgress(album, state);
    } catch (error) {
      state.loading = null;
      if (shownAlbum !== album.name) return;
      albumProgress(album, state, { error, retry: () => loadMore(album, state) });
    }
  }

  let maxBytes = DEFAULT_MAX_UPLOAD_BYTES;
  let uploadPreview = null; // the object URL of the chosen file's preview

  function refuse(code, file) {
    const message = uploadAdvice(code, { size: file.size, maxBytes });
    return { kind: "answer", status: 422, code, message };
  }

  /**
   * Check, preview, scale down, upload (with progress) and search one file the user chose, dropped or
   * pasted. The size limit applies to what is sent: a large phone photo passes once scaled down.
   */
  async function searchFile(chosen, mine) {
    if (uploadPreview) URL.revokeObjectURL(uploadPreview);
    const isImage = imageType(chosen) !== "";
    uploadPreview = isImage ? URL.createObjectURL(chosen) : null;
    if (uploadPreview) views.showUploadPreview(uploadPreview, chosen.name || "pasted image");
    const retry = () => searchFile(chosen, generation);
    if (!isImage) return views.showSearchError(refuse("bad_image", chosen), {});
    views.showPreparing(chosen.name);
    const { file } = await prepareUpload(chosen);
    if (mine !== generation) return;
    if (file.size > maxBytes) return views.showSearchError(refuse("too_large", file), {});
    const sizes = { sent: file.size, original: chosen.size };
    views.showUploadProgress(null, sizes);
    try {
      const form = await api.requestUpload();
      maxBytes = form.max_bytes || maxBytes;
      if (file.size > maxBytes) return views.showSearchError(refuse("too_large", file), {});
      await api.upload(form, file, (fraction) => {
        if (mine === generation) views.showUploadProgress(fraction, sizes);
      });
      if (mine !== generation) return;
      views.showSearching(k);
      const answer = await api.searchBy({ upload: form.upload_id }, k);
      if (mine === generation) views.showAnswer(answer);
    } catch (error) {
      if (mine !== generation) return;
      // A refused image needs another file, not a retry; anything else may pass on a second try.
      const advice = uploadAdvice(error.code, { size: file.size, maxBytes });
      if (advice) views.showSearchError({ kind: error.kind, status: error.status, code: error.code, message: advice });
      else views.showSearchError(error, { retry });
    }
  }

  function showMissing(message) {
    views.showError({ kind: "not_found", message }, {});
  }

  return {
    /** Render the current route and re-render on every hash change. */
    start() {
      win.addEventListener("hashchange", () => render());
      return render();
    },
    render,
    /** Read albums.json again after a new index version went live: the header's label follows it. */
    async refreshIndex() {
      let data;
      try {
        data = await api.albums();
      } catch {
        return; // albums.json unreadable for a moment: the label stays until the next load
      }
      if (data && Array.isArray(data.albums)) {
        catalog = data;
        views.setIndexInfo(data.index || null);
      }
    },
    get k() {
      return k;
    },
  };
}
