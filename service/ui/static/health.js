// The Health view: the Overlord breaker, paused datasources (with Resume), readiness, the slot
// gate and the request rates to the Overlord, sampled every two seconds from /metrics.

import { api, metrics } from "./api.js";
import { h, showNotice } from "./ui.js";

const EVERY_MS = 2000;
const NAMES = [
  "druid_orch_overlord_requests_total", "druid_orch_overlord_http_requests_total",
  "druid_orch_slots_claimed", "druid_orch_slots_capacity", "druid_orch_jobs_waiting_for_slots",
];

/** Per-second rates between two samples of {key: count}. */
export function rates(before, after, seconds) {
  const out = {};
  for (const [key, value] of Object.entries(after)) out[key] = Math.max(0, value - (before[key] || 0)) / seconds;
  return out;
}

function card(title, ...body) {
  return h("section", { class: "card panel", "aria-label": title }, h("h2", {}, title), ...body);
}

export function healthView(main) {
  const abort = new AbortController();
  const status = h("p", { class: "muted", role: "status" });
  const cards = h("div", { class: "cards" });
  main.append(h("h1", {}, "Health"), status, cards);
  let previous = null;
  let timer = 0;

  async function resume(datasource) {
    try {
      const answer = await api(`/v1/datasources/${encodeURIComponent(datasource)}/resume`, { method: "POST", body: {} });
      status.textContent = answer.resumed ? `${datasource} resumed.` : `${datasource} was not paused.`;
      refresh();
    } catch (error) {
      showNotice(`Resume refused (${error.status}): ${error.message}`);
    }
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      const [ds, ready, found] = await Promise.all([
        api("/v1/datasources", { signal: abort.signal }),
        fetch("/readyz", { cache: "no-store", signal: abort.signal }).then((r) => r.json()),
        metrics(NAMES, abort.signal).catch((error) => (error.status === 404 ? null : Promise.reject(error))),
      ]);
      render(ds, ready, found);
    } catch (error) {
      if (error.name === "AbortError") return;
      showNotice(`Health could not be read: ${error.message}`);
    }
    timer = setTimeout(refresh, EVERY_MS);
  }

  function render(ds, ready, found) {
    const one = (name) => (found?.[name]?.[0]?.value ?? null);
    const paused = Object.entries(ds.paused || {});
    const breaker = ds.overlord_breaker;
    const sample = { at: performance.now(), calls: {}, http: one("druid_orch_overlord_http_requests_total") ?? 0 };
    for (const m of found?.druid_orch_overlord_requests_total || []) {
      const key = `${m.labels.endpoint}|${m.labels.outcome}`;
      sample.calls[key] = (sample.calls[key] || 0) + m.value;
    }
    let rateRows = [h("tr", {}, h("td", { colspan: 3, class: "muted" }, "measuring…"))];
    let httpRate = "…";
    if (previous) {
      const seconds = (sample.at - previous.at) / 1000;
      const perKey = rates(previous.calls, sample.calls, seconds);
      const byEndpoint = {};
      for (const [key, rate] of Object.entries(perKey)) {
        const [endpoint, outcome] = key.split("|");
        const row = (byEndpoint[endpoint] ||= { ok: 0, failed: 0 });
        if (outcome === "ok") row.ok += rate;
        else row.failed += rate;
      }
      rateRows = Object.entries(byEndpoint).sort().map(([endpoint, r]) => h("tr", {},
        h("td", { class: "mono" }, endpoint), h("td", {}, r.ok.toFixed(1)), h("td", {}, r.failed.toFixed(1))));
      if (!rateRows.length) rateRows = [h("tr", {}, h("td", { colspan: 3, class: "muted" }, "no calls"))];
      httpRate = (Math.max(0, sample.http - previous.http) / seconds).toFixed(1);
    }
    previous = sample;
    const capacity = one("druid_orch_slots_capacity");
    cards.replaceChildren(
      card("Overlord",
        h("p", {}, "Circuit breaker: ", h("span", { class: `badge ph-${breaker === "closed" ? "succeeded" : breaker === "open" ? "dead" : "retry_wait"}`, "data-breaker": breaker }, breaker)),
        h("p", {}, "Daemon: ", ready.ready ? "ready" : `not ready (${ready.reason})`, ready.ready && ready.reason ? ` — ${ready.reason}` : "")),
      card("Paused datasources",
        paused.length ? h("ul", { class: "paused" }, paused.map(([name, reason]) => h("li", { "data-datasource": name },
          h("strong", {}, name), " — ", reason, " ",
          h("button", { type: "button", onclick: () => resume(name), "aria-label": `Resume ${name}` }, "Resume")))) :
          h("p", { class: "muted", "data-paused": "none" }, "None: every datasource takes submissions.")),
      card("Slot gate",
        found ? h("dl", { class: "facts" },
          h("dt", {}, "Claimed"), h("dd", { class: "big" }, String(one("druid_orch_slots_claimed") ?? 0)),
          h("dt", {}, "Capacity"), h("dd", {}, capacity === null || capacity < 0 ? "not known yet" : String(capacity)),
          h("dt", {}, "Jobs waiting"), h("dd", {}, String(one("druid_orch_jobs_waiting_for_slots") ?? 0))) :
          h("p", { class: "muted" }, "Metrics are off.")),
      card("Requests to the Overlord",
        h("p", {}, `${httpRate} HTTP requests/s (retries included)`),
        h("table", { "aria-label": "Overlord calls per second" }, h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, "Endpoint"), h("th", { scope: "col" }, "ok/s"), h("th", { scope: "col" }, "failed/s"))),
          h("tbody", {}, rateRows))));
  }

  refresh();
  return () => {
    abort.abort();
    clearTimeout(timer);
  };
}
