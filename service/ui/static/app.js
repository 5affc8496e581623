// The console's entry point: the token form, the live indicator and the hash router
// (#/jobs, #/job/ID, #/coverage, #/health), one view at a time in <main>.

import { feed, onUnauthorized, token } from "./api.js";
import { clearNotice, noticeShown, showNotice } from "./ui.js";
import { coverageView } from "./coverage.js";
import { healthView } from "./health.js";
import { jobView } from "./job.js";
import { jobsView } from "./jobs.js";

const main = document.getElementById("main");
let cleanup = null;

function route() {
  if (cleanup) cleanup();
  cleanup = null;
  clearNotice();
  main.replaceChildren();
  const hash = location.hash.slice(1) || "/jobs";
  const path = hash.split("?")[0];
  let view = "jobs";
  if (path.startsWith("/job/")) {
    view = "jobs";
    cleanup = jobView(main, decodeURIComponent(path.slice("/job/".length)));
  } else if (path === "/coverage") {
    view = "coverage";
    cleanup = coverageView(main);
  } else if (path === "/health") {
    view = "health";
    cleanup = healthView(main);
  } else {
    cleanup = jobsView(main);
  }
  for (const link of document.querySelectorAll(".top nav a")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function tokenState() {
  document.getElementById("token-state").textContent = token.get() ? "token set" : "no token";
}

document.getElementById("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("token");
  token.set(input.value.trim());
  input.value = "";
  tokenState();
  feed.restart();
  route();
});
document.getElementById("token-forget").addEventListener("click", () => {
  token.set("");
  tokenState();
  route();
});
onUnauthorized(() => {
  // An action's own refusal ("Cancel refused (401): …") says more than this general hint:
  // a background read refused a moment later (the change feed) must not replace it.
  if (!noticeShown()) {
    showNotice("This daemon needs its API token: enter it above (it stays in this tab only).");
  }
  document.getElementById("token-state").textContent = token.get() ? "token refused" : "no token";
  document.getElementById("token").focus();
});
feed.onStatus((live, text) => {
  const el = document.getElementById("live");
  if (el.textContent === text) return; // every answer of the long poll says so again
  el.className = `live ${live ? "on" : "off"}`;
  el.textContent = text;
});

window.addEventListener("hashchange", route);
tokenState();
route();
feed.start();
