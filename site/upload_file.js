// The file an upload sends: typed so the upload form takes it, and phone photos scaled down first.
//
// A 12-megapixel phone photo is 3 to 6 MB; the search uses 224 px of it. Where this browser can decode
// the file (JPEG, PNG, WebP), it is redrawn on a canvas at a long side of about 1280 px and sent as a
// JPEG: smaller on a mobile link, and a canvas carries no EXIF/XMP (no GPS, serial or capture time).
// Files the browser cannot decode (HEIC in most browsers) go as they are; the API decodes them.

// What the search takes (docs/contracts.md, "Formats"): the picker's accept list and the error text.
export const IMAGE_TYPES_TEXT = "JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC/HEIF or AVIF";
export const UPLOAD_ACCEPT = "image/*,.heic,.heif,.avif";

export const UPLOAD_LONG_SIDE = 1280;
export const UPLOAD_JPEG_QUALITY = 0.88;

// The formats every current browser decodes; anything else is never redrawn.
const REDRAWN_TYPES = new Set(["image/jpeg", "image/png", "image/webp"]);
// Phone formats a browser may name with no type at all (the upload form wants an image/ type).
const TYPES_BY_SUFFIX = { heic: "image/heic", heif: "image/heif", avif: "image/avif" };

/** The image type of a chosen file, from the browser or its name's suffix ("" when neither says image). */
export function imageType(file) {
  const type = typeof file.type === "string" ? file.type : "";
  if (type.startsWith("image/")) return type;
  const suffix = String(file.name || "").split(".").pop().toLowerCase();
  return TYPES_BY_SUFFIX[suffix] || "";
}

/** The size to draw at: the long side brought down to longSide, never up. */
export function scaledSize(width, height, longSide = UPLOAD_LONG_SIDE) {
  const scale = Math.min(1, longSide / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)),
           scaled: scale < 1 };
}

function jpegName(name) {
  const base = String(name || "image").replace(/\.[^./]*$/, "");
  return `${base || "image"}.jpg`;
}

async function encodeJpeg(bitmap, width, height, quality, doc) {
  const canvas = typeof OffscreenCanvas === "function" ? new OffscreenCanvas(width, height)
    : Object.assign(doc.createElement("canvas"), { width, height });
  const context = canvas.getContext("2d");
  context.fillStyle = "#ffffff"; // transparent pixels of a PNG become white in a JPEG, not black
  context.fillRect(0, 0, width, height);
  context.imageSmoothingQuality = "high";
  context.drawImage(bitmap, 0, 0, width, height);
  if (canvas.convertToBlob) return canvas.convertToBlob({ type: "image/jpeg", quality });
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
}

/**
 * The file to send for a chosen one: {file, original, scaled}. A file is redrawn only when this
 * browser decodes it and its long side is over longSide; on any failure the original goes.
 */
export async function prepareUpload(file, { longSide = UPLOAD_LONG_SIDE, quality = UPLOAD_JPEG_QUALITY,
                                           doc = globalThis.document } = {}) {
  const type = imageType(file);
  const typed = type && type !== file.type ? new File([file], file.name || "image", { type }) : file;
  const keep = { file: typed, original: file, scaled: false };
  if (!REDRAWN_TYPES.has(type) || typeof globalThis.createImageBitmap !== "function") return keep;
  let bitmap;
  try {
    // from-image: a portrait stored sideways with an EXIF orientation is drawn upright.
    bitmap = await globalThis.createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    return keep; // not decodable here (or not what it says): the API decides
  }
  try {
    const size = scaledSize(bitmap.width, bitmap.height, longSide);
    if (!size.scaled) return keep;
    const blob = await encodeJpeg(bitmap, size.width, size.height, quality, doc);
    if (!blob || !blob.size) return keep;
    return { file: new File([blob], jpegName(file.name), { type: "image/jpeg" }), original: file, scaled: true };
  } catch {
    return keep;
  } finally {
    bitmap.close();
  }
}
