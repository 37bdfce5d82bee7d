// The controller: hash routes to screens, given an api and views so it can run against stubs.
import { DEFAULT_K, clampK } from "./k.js";

// The API's default upload limit, shown before the first upload form says the real one.
export const DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024;
const TYPES_TEXT = "JPEG, PNG, GIF, WebP, BMP or TIFF";

/** What to tell the user when their image cannot be searched, by error code (undefined: keep the API's). */
export function uploadAdvice(code, { size = 0, maxBytes = DEFAULT_MAX_UPLOAD_BYTES } = {}) {
  const mib = (n) => `${+(n / (1024 * 1024)).toFixed(1)} MiB`;
  if (code === "too_large") {
    return `This image${size ? ` is ${mib(size)},` : " is"} over the limit of ${mib(maxBytes)}. `
      + "Choose a smaller image, or resize it and try again.";
  }
  if (code === "bad_image") {
    return `This file is not an image that can be searched. Choose a ${TYPES_TEXT} file.`;
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

/** The application: call start() once; it renders the current route and follows hash changes. */
export function createApp({ api, views, win = window }) {
  let catalog = null; // albums.json once loaded
  let k = DEFAULT_K;
  let generation = 0; // bumps on every route so a late answer never paints over a newer screen

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
      const showAlbum = () => views.showAlbum(album, k, { onK: (value) => { k = clampK(value); showAlbum(); } });
      showAlbum();
    } else if (route.name === "image") {
      if (route.k !== null) k = route.k;
      const key = `albums/${route.album}/${route.file}`;
      views.showQuery(route.album, key, k, {
        onK: (value) => {
          k = clampK(value);
          // A new k is a new search: give it its own history entry so back returns to the previous one.
          win.location.hash = `#/album/${encodeURIComponent(route.album)}/${encodeURIComponent(route.file)}?k=${k}`;
        },
        onSearch: () => search(key, generation),
      });
      await search(key, mine);
    } else if (route.name === "like") {
      // "More like this": the result's gallery image; its public copy is at results/<gallery key>.
      const key = `gallery/${route.album}/${route.file}`;
      views.showQuery(route.album, key, k, {
        onK: (value) => { k = clampK(value); search(key, generation); },
        onSearch: () => search(key, generation),
      }, `results/${key}`);
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

  let maxBytes = DEFAULT_MAX_UPLOAD_BYTES;
  let previewUrl = null;

  function refuse(code, file) {
    const message = uploadAdvice(code, { size: file.size, maxBytes });
    return { kind: "answer", status: 422, code, message };
  }

  /** Check, preview, upload (with progress) and search one file the user chose, dropped or pasted. */
  async function searchFile(file, mine) {
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    const isImage = typeof file.type === "string" && file.type.startsWith("image/");
    previewUrl = isImage ? URL.createObjectURL(file) : null;
    if (previewUrl) views.showUploadPreview(previewUrl, file.name || "pasted image");
    const retry = () => searchFile(file, generation);
    if (!isImage) return views.showSearchError(refuse("bad_image", file), {});
    if (file.size > maxBytes) return views.showSearchError(refuse("too_large", file), {});
    views.showUploadProgress(null);
    try {
      const form = await api.requestUpload();
      maxBytes = form.max_bytes || maxBytes;
      if (file.size > maxBytes) return views.showSearchError(refuse("too_large", file), {});
      await api.upload(form, file, (fraction) => { if (mine === generation) views.showUploadProgress(fraction); });
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
    get k() {
      return k;
    },
  };
}
