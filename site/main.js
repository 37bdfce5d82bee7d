// Wiring: read the config, build the api client and the views, start the controller (and, on the
// local stack only, the operator's re-index panel).
import config from "./config.js";
import { createApi } from "./api.js";
import { createViews } from "./views.js";
import { createApp } from "./app.js";
import { prepareUpload } from "./upload_file.js";
import { createReindexPanel } from "./reindex_panel.js";
import { createReindexControl } from "./reindex_control.js";

// config.js names the API; a test may also shorten the search timeout there. localReindex is written
// only by the local stack (`make demo`): a deployed page has no re-index panel.
const api = createApi({ apiUrl: config.apiUrl, searchTimeoutMs: config.searchTimeoutMs,
  reindexUrl: config.localReindex || "" });
const views = createViews({
  doc: document,
  main: document.getElementById("main"),
  indexInfo: document.getElementById("index-info"),
});
const app = createApp({ api, views, win: window, prepareUpload });
app.start();
if (config.localReindex) {
  const panel = createReindexPanel({ doc: document });
  document.querySelector("header.top").after(panel.element);
  createReindexControl({ api, panel, onIndexChanged: () => app.refreshIndex() }).start();
}
