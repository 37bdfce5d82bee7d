// The controller: hash routes to screens, given an api and views so it can run against stubs.
import { DEFAULT_K, clampK } from "./k.js";

/** Parse a location hash: #/ , #/album/<name> , #/album/<name>/<file>?k=N. */
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
    } else {
      showMissing("This page does not exist.");
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
