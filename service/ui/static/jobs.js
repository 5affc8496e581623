// The Jobs view: a page of jobs from GET /v1/jobs with its filters, counts per phase from
// the metrics, rows kept current from the change feed without reloading.

import { api, feed, metrics } from "./api.js";
import { badge, field, fmtTime, h, jobLink, PHASES, routeParams, setRoute, shortInterval, showNotice, throttle } from "./ui.js";

const PAGE = 50;

/** The interval filter: whole UTC days from `from` to `to`, both included. */
export function dayRange(from, to) {
  if (!from && !to) return null;
  const start = from || "1000-01-01";
  const end = to ? new Date(Date.parse(`${to}T00:00:00Z`) + 86400000).toISOString().slice(0, 10) : "9999-12-31";
  return `${start}T00:00:00Z/${end}T00:00:00Z`;
}

export function jobsView(main) {
  const params = routeParams();
  const cursors = params.cursor ? ["", params.cursor] : [""];
  const rows = new Map();
  const abort = new AbortController();
  let loaded = false;

  const phase = h("select", { name: "phase" }, h("option", { value: "" }, "any phase"),
    PHASES.map((p) => h("option", { value: p, selected: p === params.phase }, p)));
  const datasource = h("input", { name: "datasource", value: params.datasource || "", list: "datasources", size: 14 });
  const from = h("input", { name: "from", type: "date", value: params.from || "" });
  const to = h("input", { name: "to", type: "date", value: params.to || "" });
  const q = h("input", { name: "q", type: "search", value: params.q || "", placeholder: "id or part of one", size: 22 });
  const datalist = h("datalist", { id: "datasources" });
  const form = h("form", { class: "filters", role: "search", "aria-label": "Filter jobs", onsubmit: apply },
    field("Phase", phase), field("Datasource", datasource), field("Interval from", from),
    field("to (inclusive)", to), field("Job id", q),
    h("span", { class: "buttons" }, h("button", { type: "submit" }, "Filter"),
      h("button", { type: "button", onclick: () => setRoute("/jobs") }, "Clear")), datalist);
  const counts = h("ul", { class: "counts", "aria-label": "Jobs per phase" });
  const summary = h("p", { class: "muted", role: "status" });
  const body = h("tbody");
  const table = h("div", { class: "table-wrap" }, h("table", { "aria-label": "Jobs" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Job"), h("th", { scope: "col" }, "Phase"),
      h("th", { scope: "col" }, "Datasource"), h("th", { scope: "col" }, "Interval"),
      h("th", { scope: "col", class: "hide-narrow" }, "Attempt"),
      h("th", { scope: "col", class: "hide-narrow" }, "Accepted"),
      h("th", { scope: "col", class: "hide-narrow" }, "Note"))), body));
  const prev = h("button", { type: "button", onclick: () => page(-1) }, "← Previous");
  const next = h("button", { type: "button", onclick: () => page(1) }, "Next →");
  const where = h("span", { class: "muted" });
  main.append(h("h1", {}, "Jobs"), form, counts, summary, table, h("nav", { class: "pager", "aria-label": "Pages" }, prev, where, next));

  function apply(event) {
    event.preventDefault();
    setRoute("/jobs", { phase: phase.value, datasource: datasource.value.trim(), from: from.value, to: to.value, q: q.value.trim() });
  }

  function query(cursor) {
    const out = new URLSearchParams({ limit: String(PAGE) });
    if (params.phase) out.set("phase", params.phase);
    if (params.datasource) out.set("datasource", params.datasource);
    const interval = dayRange(params.from, params.to);
    if (interval) out.set("interval", interval);
    if (cursor) out.set("cursor", cursor);
    return out;
  }

  function cells(job) {
    const note = job.held || job.reason || job.last_error || "";
    return [
      h("td", { class: "id mono" }, jobLink(job.job_id)),
      h("td", { class: "phase" }, badge(job.phase)),
      h("td", {}, job.datasource),
      h("td", { class: "mono" }, shortInterval(job.interval)),
      h("td", { class: "hide-narrow attempt" }, `${job.attempt} / ${job.max_attempts}`),
      h("td", { class: "hide-narrow" }, fmtTime(job.accepted_at)),
      h("td", { class: "hide-narrow note" }, note),
    ];
  }

  function show(jobs) {
    rows.clear();
    body.replaceChildren(...jobs.map((job) => {
      const tr = h("tr", { "data-job": job.job_id }, cells(job));
      rows.set(job.job_id, tr);
      return tr;
    }));
    if (!jobs.length) body.append(h("tr", {}, h("td", { colspan: 7, class: "empty" }, "No job matches these filters.")));
    const seen = new Set(jobs.map((j) => j.datasource));
    datalist.replaceChildren(...[...seen].sort().map((ds) => h("option", { value: ds })));
  }

  async function load() {
    const cursor = cursors[cursors.length - 1];
    summary.textContent = "Loading…";
    try {
      let jobs;
      let nextCursor = null;
      const text = params.q || "";
      if (text) {
        // An exact id is asked of the daemon; otherwise the page's own ids are searched.
        const exact = await api(`/v1/jobs?${new URLSearchParams({ id: text })}`, { signal: abort.signal });
        if (exact.jobs.length) jobs = exact.jobs;
      }
      if (!jobs) {
        const answer = await api(`/v1/jobs?${query(cursor)}`, { signal: abort.signal });
        jobs = answer.jobs;
        nextCursor = answer.next;
        if (text) jobs = jobs.filter((j) => j.job_id.toLowerCase().includes(text.toLowerCase()));
      }
      show(jobs);
      loaded = true;
      next.disabled = !nextCursor;
      next.dataset.cursor = nextCursor || "";
      prev.disabled = cursors.length < 2;
      where.textContent = `page ${cursors.length}`;
      summary.textContent = text && !nextCursor && !jobs.length ? `No job id contains “${text}” on this page.` :
        `${jobs.length} job${jobs.length === 1 ? "" : "s"} on this page${text ? ` whose id contains “${text}”` : ""}.`;
    } catch (error) {
      if (error.name === "AbortError") return;
      summary.textContent = "";
      showNotice(`Jobs could not be listed: ${error.message}`);
    }
  }

  function page(step) {
    if (step > 0 && next.dataset.cursor) cursors.push(next.dataset.cursor);
    if (step < 0 && cursors.length > 1) cursors.pop();
    load();
  }

  async function loadCounts() {
    try {
      const found = await metrics(["druid_orch_jobs"], abort.signal);
      const byPhase = Object.fromEntries((found.druid_orch_jobs || []).map((m) => [m.labels.phase, m.value]));
      const total = Object.values(byPhase).reduce((a, b) => a + b, 0);
      counts.replaceChildren(h("li", { class: "total" }, `${total} jobs`),
        ...PHASES.filter((p) => byPhase[p]).map((p) => h("li", {},
          h("a", { href: `#/jobs?phase=${p}`, "aria-label": `${byPhase[p]} ${p}`, "data-count": p },
            h("span", { class: `badge ph-${p}` }, `${p} ${byPhase[p]}`)))));
    } catch (error) {
      if (error.name !== "AbortError") counts.replaceChildren(h("li", { class: "muted" }, `counts unavailable: ${error.message}`));
    }
  }
  const recount = throttle(loadCounts, 1000);

  // Updates are applied once a frame: a burst of a thousand changes costs one layout.
  let pending = new Map();
  let frame = 0;
  function flush() {
    frame = 0;
    let inserted = false;
    for (const job of pending.values()) {
      const tr = rows.get(job.job_id);
      if (!tr) {
        if (fits(job)) {
          insert(job);
          inserted = true;
        }
        continue;
      }
      tr.replaceChildren(...cells(job));
      tr.classList.add("changed");
      tr.addEventListener("animationend", () => tr.classList.remove("changed"), { once: true });
    }
    if (inserted) summary.textContent = `${rows.size} job${rows.size === 1 ? "" : "s"} on this page.`;
    pending = new Map();
  }
  const unsubscribe = feed.subscribe((jobs) => {
    for (const job of jobs) if (rows.has(job.job_id) || fits(job)) pending.set(job.job_id, job);
    if (pending.size && !frame) frame = requestAnimationFrame(flush);
    recount();
  });

  /** Whether a job the page does not show yet belongs on it: the first page, in id order. */
  function fits(job) {
    if (cursors.length > 1 || !loaded) return false;
    if (params.phase && job.phase !== params.phase) return false;
    if (params.datasource && job.datasource !== params.datasource) return false;
    if (params.q && !job.job_id.toLowerCase().includes(params.q.toLowerCase())) return false;
    const range = dayRange(params.from, params.to);
    if (range) {
      const [start, end] = range.split("/").map(Date.parse);
      const [jobStart, jobEnd] = job.interval.split("/").map(Date.parse);
      if (!(jobStart < end && start < jobEnd)) return false;
    }
    return rows.size < PAGE || job.job_id < body.lastElementChild.dataset.job;
  }

  function insert(job) {
    const tr = h("tr", { "data-job": job.job_id }, cells(job));
    if (!rows.size) body.replaceChildren();
    const after = [...body.children].find((row) => row.dataset.job > job.job_id);
    body.insertBefore(tr, after || null);
    rows.set(job.job_id, tr);
    if (rows.size > PAGE) {
      const last = body.lastElementChild;
      rows.delete(last.dataset.job);
      last.remove();
      next.disabled = false;
    }
  }

  load();
  loadCounts();
  return () => {
    abort.abort();
    unsubscribe();
    if (frame) cancelAnimationFrame(frame);
  };
}
