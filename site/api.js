// The API client: every network call the page makes, with timeouts and checked responses.
import { listingUrl } from "./urls.js";

/** A failed call. kind is "unreachable", "timeout", "answer" (the API said no) or "bad_response". */
export class ApiError extends Error {
  constructor(kind, message, { status = 0, code = "" } = {}) {
    super(message);
    this.name = "ApiError";
    this.kind = kind;
    this.status = status;
    this.code = code;
  }
}

// API Gateway gives up after 30 s and the function answers 504 before that; wait a little longer
// so the API's own 504 reaches the user instead of a browser-side timeout.
export const SEARCH_TIMEOUT_MS = 32000;
export const ALBUMS_TIMEOUT_MS = 15000;
export const UPLOAD_TIMEOUT_MS = 120000;

// What S3 answers when a presigned POST breaks one of its conditions, as our error codes.
const S3_UPLOAD_CODES = { EntityTooLarge: "too_large", EntityTooSmall: "bad_image", AccessDenied: "bad_image" };

/** POST a file to a presigned S3 form with XMLHttpRequest (fetch reports no upload progress). */
export function postForm(form, file, { onProgress = () => {}, timeoutMs = UPLOAD_TIMEOUT_MS,
                                       Xhr = globalThis.XMLHttpRequest } = {}) {
  return new Promise((resolve, reject) => {
    const data = new FormData();
    for (const [name, value] of Object.entries(form.fields || {})) data.append(name, value);
    data.append("Content-Type", file.type);
    data.append("file", file); // S3 reads every field before the file, so it comes last
    const xhr = new Xhr();
    xhr.open("POST", form.url);
    xhr.timeout = timeoutMs;
    xhr.upload.onprogress = (e) => onProgress(e.lengthComputable ? e.loaded / e.total : null);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve();
      const found = /<Code>([A-Za-z]+)<\/Code>/.exec(xhr.responseText || "");
      const code = (found && S3_UPLOAD_CODES[found[1]]) || "upload_failed";
      reject(new ApiError("answer", `The upload was refused (${found ? found[1] : `HTTP ${xhr.status}`}).`,
        { status: xhr.status, code }));
    };
    xhr.onerror = () => reject(new ApiError("unreachable", "Could not reach the upload storage."));
    xhr.ontimeout = () => reject(new ApiError("timeout", "The upload did not finish in time."));
    xhr.send(data);
  });
}

/**
 * Build the client for an API base URL (trailing slash optional). reindexUrl: the local stack's
 * re-index endpoint (config.js's localReindex; absent when deployed, and then not called).
 */
export function createApi({ apiUrl, fetchImpl = globalThis.fetch.bind(globalThis),
                            searchTimeoutMs = SEARCH_TIMEOUT_MS, albumsTimeoutMs = ALBUMS_TIMEOUT_MS,
                            reindexUrl = "" }) {
  const base = String(apiUrl).replace(/\/+$/, "");

  async function request(url, init, timeoutMs, what) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    let response;
    try {
      response = await fetchImpl(url, { ...init, signal: controller.signal });
    } catch (err) {
      if (controller.signal.aborted) {
        throw new ApiError("timeout", `${what} did not answer within ${Math.round(timeoutMs / 1000)} s.`);
      }
      // fetch rejects with a TypeError on DNS, connection and CORS failures alike.
      throw new ApiError("unreachable", `Could not reach ${what} (${err.message}).`);
    } finally {
      clearTimeout(timer);
    }
    let body = null;
    try {
      body = await response.json();
    } catch (err) {
      if (response.ok) {
        throw new ApiError("bad_response", `${what} sent an answer that is not JSON.`, { status: response.status });
      }
    }
    if (!response.ok) {
      const error = body && typeof body === "object" && body.error ? body.error : {};
      const message = typeof error.message === "string" && error.message
        ? error.message : `${what} answered HTTP ${response.status}.`;
      throw new ApiError("answer", message, { status: response.status, code: String(error.code || "") });
    }
    return body;
  }

  return {
    /** The album list and index description (albums.json, from the site root). */
    albums() {
      return request("albums.json", { headers: { Accept: "application/json" }, cache: "no-cache" },
        albumsTimeoutMs, "the album list");
    },

    /** One page (from 1) of an album's listing: {album, page, pages, count, images: [{key, ...}]}. */
    async listing(album, page) {
      const body = await request(listingUrl(album, page), { headers: { Accept: "application/json" } },
        albumsTimeoutMs, `page ${page} of the album`);
      if (!body || typeof body !== "object" || !Array.isArray(body.images)) {
        throw new ApiError("bad_response", `Page ${page} of the album has no image list.`);
      }
      return body;
    },

    /** The near-duplicate groups (duplicates.json, from the site root; docs/contracts.md). */
    duplicates() {
      return request("duplicates.json", { headers: { Accept: "application/json" }, cache: "no-cache" },
        albumsTimeoutMs, "the duplicate list");
    },

    /** Search for the k images most like the one at key ("gallery/<album>/<file>" or "albums/..."). */
    search(key, k) {
      return this.searchBy({ key }, k);
    },

    /** Search by a query object: {key} or {upload: "<upload_id>"}. */
    async searchBy(query, k) {
      const body = await request(`${base}/search`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ ...query, k }),
      }, searchTimeoutMs, "the search API");
      if (!body || !Array.isArray(body.results)) {
        throw new ApiError("bad_response", "The search API answered without a result list.");
      }
      return body;
    },

    /** A presigned upload form: {upload_id, url, fields, max_bytes, expires_in}. */
    async requestUpload() {
      const body = await request(`${base}/uploads`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: "{}",
      }, searchTimeoutMs, "the upload API");
      if (!body || typeof body.url !== "string" || !body.fields || typeof body.upload_id !== "string") {
        throw new ApiError("bad_response", "The upload API answered without an upload form.");
      }
      return body;
    },

    /** The local re-index's progress (docs/contracts.md, "Local re-index"). */
    reindexProgress() {
      return request(reindexUrl, { headers: { Accept: "application/json" }, cache: "no-store" },
        albumsTimeoutMs, "the local re-index");
    },

    /** Start the local re-index; a run already under way is an ApiError with status 409. */
    startReindex() {
      return request(reindexUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: "{}",
      }, albumsTimeoutMs, "the local re-index");
    },

    /** Send the file with the form, reporting progress (0..1, or null when unknown). */
    upload(form, file, onProgress) {
      return postForm(form, file, { onProgress });
    },
  };
}
