// The Health view: the Overlord breaker, paused datasources (with Resume), readiness, the slot
// gate, the request rates to the Overlord, sampled every two seconds from /metrics, and the
// daemon's role: standalone (SQLite), or the leader or a standby of replicas (docs/ha.md).

import { api, metrics } from "./api.js";
import { h, showNotice } from "./ui.js";

const EVERY_MS = 2000;
const NAMES = [
  "druid_orch_overlord_requests_total", "druid_orch_overlord_http_requests_total",
  "druid_orch_slots_claimed", "druid_orch_slots_capacity", "druid_orch_jobs_waiting_for_slots",
  "druid_orch_leader", "druid_orch_leader_epoch",
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

/** Who this daemon is: standalone (one daemon on SQLite, no `role` in /readyz), or the
 * leader or a standby of HA replicas, with the lease's epoch and, on a standby, the leader. */
function replicaCard(ready, epoch, instance) {
  const role = ready.role || "standalone";
  const facts = [h("dt", {}, "Role"), h("dd", { class: "big", "data-role": role }, role)];
  if (role === "standalone") facts.push(h("dt", {}, "Replicas"), h("dd", {}, "none: one daemon on its own event log"));
  if (epoch !== null) facts.push(h("dt", {}, "Lease epoch"), h("dd", { "data-epoch": String(epoch) }, String(epoch)));
  if (instance) facts.push(h("dt", {}, "This replica"), h("dd", { class: "mono" }, instance));
  if (role === "standby") {
    const leader = ready.leader;
    facts.push(h("dt", {}, "Leader"), h("dd", { "data-leader": leader || "" }, leader ?
      h("a", { href: `${leader.replace(/\/$/, "")}/ui/#/health`, rel: "noopener" }, leader) : "none known yet"));
  }
  const body = [h("dl", { class: "facts" }, ...facts)];
  if (role === "standby") {
    body.push(h("p", { class: "muted" }, "This replica shows the jobs from the shared log; cancel, retry and resume are the leader's: act in its console."));
  }
  return card("Replica", ...body);
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
        // A standby sends this read to its leader (a 307): the breakers live there.
        api("/v1/datasources", { signal: abort.signal }).catch((error) => (error.status === 307 ? null : Promise.reject(error))),
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
    const paused = Object.entries(ds?.paused || {});
    const breaker = ds ? ds.overlord_breaker : "on the leader";
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
      replicaCard(ready, one("druid_orch_leader_epoch"), found?.druid_orch_leader?.[0]?.labels?.instance),
      card("Overlord",
        h("p", {}, "Circuit breaker: ", h("span", { class: `badge ph-${breaker === "closed" ? "succeeded" : breaker === "open" ? "dead" : "retry_wait"}`, "data-breaker": breaker }, breaker)),
        h("p", {}, "Daemon: ", ready.ready ? "ready" : `not ready (${ready.reason})`, ready.ready && ready.reason ? ` — ${ready.reason}` : "")),
      card("Paused datasources",
        !ds ? h("p", { class: "muted" }, "Kept by the leader: open its console to see them.") : paused.length ? h("ul", { class: "paused" }, paused.map(([name, reason]) => h("li", { "data-datasource": name },
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
        h("p", { "data-http-total": String(sample.http) }, `${httpRate} HTTP requests/s (retries included); ${sample.http} since the daemon started`),
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
