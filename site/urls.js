// Where the page finds an image's public copies and an album's listing pages (docs/contracts.md, "Site bucket").

/** The album name and file name of a key such as "gallery/marble/x.png" or "results/gallery/marble/x.png". */
export function splitKey(key) {
  const parts = String(key).split("/");
  return { album: parts.length >= 3 ? parts[parts.length - 2] : "", file: parts[parts.length - 1] };
}

/** The gallery key of an album image: what the page sends as {"key": ...} to search. */
export function galleryKey(album, file) {
  return `gallery/${album}/${file}`;
}

function sitePath(prefix, album, file) {
  return `${prefix}/${encodeURIComponent(album)}/${encodeURIComponent(file)}`;
}

/** The thumbnail (long side <= 256 px) of a gallery key; any other key (an older albums/ copy) as it is. */
export function thumbUrl(key) {
  const text = String(key);
  if (!text.startsWith("gallery/")) return text;
  const { album, file } = splitKey(text);
  return sitePath("thumbs", album, file);
}

/** The preview (long side <= 1280 px) of an album image: what the query view shows. */
export function previewUrl(album, file) {
  return sitePath("previews", album, file);
}

/** One page (from 1) of an album's listing. */
export function listingUrl(album, page) {
  return `listings/${encodeURIComponent(album)}/${page}.json`;
}
