// Wiring: read the config, build the api client and the views, start the controller.
import config from "./config.js";
import { createApi } from "./api.js";
import { createViews } from "./views.js";
import { createApp } from "./app.js";
import { prepareUpload } from "./upload_file.js";

// config.js names the API; a test may also shorten the search timeout there.
const api = createApi({ apiUrl: config.apiUrl, searchTimeoutMs: config.searchTimeoutMs });
const views = createViews({
  doc: document,
  main: document.getElementById("main"),
  indexInfo: document.getElementById("index-info"),
});
createApp({ api, views, win: window, prepareUpload }).start();
