// The Duplicates view (#/duplicates): duplicates.json's groups of near-duplicates, each group's
// thumbnails side by side with album, size and the suggested keep, each a link to its search.
import { splitKey, thumbUrl } from "./urls.js";
import { formatBytes, likeHref } from "./view_parts.js";

export const DUPLICATES_ROUTE = "#/duplicates";

/** "2400 × 1600 · 1.2 MiB", from what the document knows of one image. */
export function sizeText(member) {
  const parts = [];
  if (member.width && member.height) parts.push(`${member.width} × ${member.height}`);
  if (typeof member.bytes === "number") parts.push(formatBytes(member.bytes));
  return parts.join(" · ") || "size unknown";
}

/** The groups of a duplicates.json, checked loosely: a list of {images, keep, members?}. */
export function groupsOf(data) {
  const groups = data && Array.isArray(data.groups) ? data.groups : [];
  return groups.filter((g) => g && Array.isArray(g.images) && g.images.length > 1);
}

/** The home page's link to the view, saying how many groups there are. */
export function duplicatesLink(h, count) {
  return h("p", { className: "duplicates-link" },
    h("a", { href: DUPLICATES_ROUTE, text: `Duplicates: ${count} group${count === 1 ? "" : "s"}` }));
}

function tile(h, key, member, isKeep) {
  const { album, file } = splitKey(key);
  const img = h("img", { src: thumbUrl(key), alt: `${album}/${file}`, className: "dup-img", loading: "lazy",
    decoding: "async" });
  return h("li", { className: isKeep ? "dup keep" : "dup" },
    h("a", { className: "dup-link", href: likeHref(key), title: `Find images like ${file}` },
      img,
      h("span", { className: "dup-name", text: file })),
    h("span", { className: "dup-album", text: album }),
    h("span", { className: "dup-size", text: sizeText(member || {}) }),
    isKeep ? h("span", { className: "badge keep-badge", text: "suggested keep" }) : null);
}

/** The view's nodes: heading, threshold line, one list per group (or a note when there are none). */
export function duplicatesScreen(h, data) {
  const groups = groupsOf(data);
  const nodes = [
    h("h1", { text: "Duplicates" }),
    h("p", { className: "hint", text: "Images the index scores as copies of each other (at or above "
      + `${typeof data?.threshold === "number" ? data.threshold.toFixed(3) : "its near-duplicate band"}), `
      + "joined into groups. The suggested keep has the most pixels, then the largest file." }),
  ];
  if (!groups.length) {
    nodes.push(h("p", { className: "no-duplicates", text: "No near-duplicates were found." }));
    return nodes;
  }
  groups.forEach((group, i) => {
    const members = new Map((Array.isArray(group.members) ? group.members : []).map((m) => [m.key, m]));
    nodes.push(h("section", { className: "dup-group", "aria-label": `group ${i + 1}` },
      h("h2", { text: `Group ${i + 1}: ${group.images.length} images` }),
      h("ul", { className: "dup-row" },
        group.images.map((key) => tile(h, key, members.get(key), key === group.keep)))));
  });
  return nodes;
}
