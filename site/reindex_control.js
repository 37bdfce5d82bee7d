// The operator panel's controller: start a re-index, follow its progress, and tell the page when a
// new index version is live. Only main.js creates it, and only when config.js offers a re-index.

// How often the progress is read while a run is under way.
export const POLL_MS = 1000;

/**
 * Wire the panel to the API. onIndexChanged(version) runs once per run that this page saw finish
 * (the page then reads albums.json again for its index label).
 */
export function createReindexControl({ api, panel, onIndexChanged, win = window, pollMs = POLL_MS }) {
  let timer = null;
  let following = false; // a run is under way that this page has seen: its end changes the label
  let notice = ""; // why this page's start was refused (409), shown while that run goes on

  function schedule() {
    if (timer === null) timer = win.setTimeout(() => { timer = null; poll(); }, pollMs);
  }

  function follow(progress) {
    panel.show(progress, notice);
    if (progress.state === "running") {
      following = true;
      schedule();
    } else if (following) {
      following = false;
      notice = "";
      if (progress.state === "done") onIndexChanged(progress.version);
    }
  }

  async function poll() {
    try {
      follow(await api.reindexProgress());
    } catch (error) {
      // The stack may be busy or restarting: say so, and keep looking while a run was under way.
      panel.showError(`Could not read the re-index's progress: ${error.message}`, { running: following });
      if (following) schedule();
    }
  }

  async function start() {
    notice = "";
    panel.showStarting();
    try {
      follow(await api.startReindex());
    } catch (error) {
      // 409: a run is already under way (another tab, or the command line): follow that one.
      const busy = error.status === 409;
      panel.showError(error.message, { running: busy });
      if (busy) {
        notice = error.message;
        following = true;
        schedule();
      }
    }
  }

  return {
    /** Show the current state (a run started before this page loaded is followed too). */
    start() {
      panel.onStart(start);
      return poll();
    },
  };
}
