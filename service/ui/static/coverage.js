// The Coverage view: one datasource's intervals as a calendar, one cell per chunk (an hour,
// a day or a month, as the pipeline chunks), coloured by the phase of the job covering it.
// Hover or focus a cell for its job, click to open it; cells follow the change feed.

import { api, feed } from "./api.js";
import { field, h, PHASES, routeParams, setRoute, showNotice } from "./ui.js";

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const HOUR = 3600e3;

/** The chunk a datasource's jobs use, from their most common interval length. */
export function chunkOf(jobs) {
  const lengths = {};
  for (const job of jobs) {
    const [start, end] = job.interval.split("/").map(Date.parse);
    const ms = end - start;
    const kind = ms <= HOUR ? "hour" : ms <= 24 * HOUR ? "day" : ms <= 31 * 24 * HOUR ? "month" : "day";
    lengths[kind] = (lengths[kind] || 0) + 1;
  }
  return Object.entries(lengths).sort((a, b) => b[1] - a[1])[0]?.[0] || "day";
}

/** The calendar's geometry for a chunk: a row's key, a cell's column, and how many columns. */
const SHAPES = {
  hour: { row: (iso) => iso.slice(0, 10), col: (iso) => Number(iso.slice(11, 13)), cols: 24, head: (i) => String(i), step: HOUR },
  day: { row: (iso) => iso.slice(0, 7), col: (iso) => Number(iso.slice(8, 10)) - 1, cols: 31, head: (i) => String(i + 1), step: 24 * HOUR },
  month: { row: (iso) => iso.slice(0, 4), col: (iso) => Number(iso.slice(5, 7)) - 1, cols: 12, head: (i) => MONTHS[i], step: 0 },
};

function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function cellKey(shape, iso) {
  return `${shape.row(iso)}|${shape.col(iso)}`;
}

function rowLabel(chunk, key) {
  if (chunk === "day") return `${MONTHS[Number(key.slice(5, 7)) - 1]} ${key.slice(0, 4)}`;
  return key;
}

/** Every chunk start from `first` to `last` (ISO), so gaps show as cells without a job. */
function chunkStarts(chunk, first, last) {
  const out = [];
  const d = new Date(first);
  const end = Date.parse(last);
  for (let i = 0; d.getTime() <= end && i < 50000; i += 1) {
    out.push(d.toISOString());
    if (chunk === "month") d.setUTCMonth(d.getUTCMonth() + 1);
    else d.setTime(d.getTime() + SHAPES[chunk].step);
  }
  return out;
}

export function coverageView(main) {
  const params = routeParams();
  const abort = new AbortController();
  const ds = h("input", { name: "datasource", id: "coverage-ds", value: params.ds || "", list: "coverage-datasources", required: true, size: 16 });
  const from = h("input", { name: "from", type: "date", value: params.from || "" });
  const to = h("input", { name: "to", type: "date", value: params.to || "" });
  const known = h("datalist", { id: "coverage-datasources" });
  const form = h("form", { class: "filters", "aria-label": "Calendar range", onsubmit: (event) => {
    event.preventDefault();
    setRoute("/coverage", { ds: ds.value.trim(), from: from.value, to: to.value });
  } },
  field("Datasource", ds), field("From", from), field("To (exclusive)", to),
  h("span", { class: "buttons" }, h("button", { type: "submit" }, "Show")), known);
  const status = h("p", { class: "muted", role: "status" });
  const detail = h("p", { class: "mono", id: "coverage-detail", "aria-live": "polite" }, "Hover or focus a cell for its job.");
  const legend = h("ul", { class: "legend", "aria-label": "Legend" },
    [...PHASES, "none"].map((p) => h("li", {}, h("span", { class: `swatch ph-${p}` }), p === "none" ? "no job" : p)));
  const calendar = h("div", { class: "calendar" });
  main.append(h("h1", {}, "Coverage"), form, status, legend, detail, calendar);

  const cells = new Map();
  let shape = null;

  function label(job) {
    const [start] = job.interval.split("/");
    return `${start.replace(":00:00.000Z", "h").replace("T00h", "")}: ${job.phase} · ${job.job_id}`;
  }

  function paint(cell, job) {
    cell.className = `cell ph-${job.phase}`;
    cell.setAttribute("href", `#/job/${encodeURIComponent(job.job_id)}`);
    cell.dataset.job = job.job_id;
    cell.dataset.phase = job.phase;
    cell.dataset.accepted = String(job.accepted_at || 0);
    cell.title = label(job);
    cell.setAttribute("aria-label", cell.title);
  }

  /** One cell as HTML: ten thousand of them parse far faster than they are built by hand. */
  function cellHtml(key, job, iso, chunk) {
    if (!job) {
      const text = `${iso.slice(0, chunk === "hour" ? 13 : chunk === "day" ? 10 : 7)}: no job`;
      return `<span class="cell ph-none" data-key="${key}" role="img" title="${text}" aria-label="${text}"></span>`;
    }
    const text = esc(label(job));
    return `<a class="cell ph-${esc(job.phase)}" data-key="${key}" href="#/job/${esc(encodeURIComponent(job.job_id))}" ` +
      `data-job="${esc(job.job_id)}" data-phase="${esc(job.phase)}" data-accepted="${job.accepted_at || 0}" ` +
      `title="${text}" aria-label="${text}"></a>`;
  }

  let drawing = 0;

  /** Draw `rows` (`[interval, phase, job_id, accepted_at]`, by interval start). Only the
   * first rows' HTML is built before the first paint; the rest is built and inserted a slice
   * a task afterwards, so a decade of days neither delays the first picture nor freezes the
   * page. Cell keys come from the instants' text (the API writes them in one ISO form), so
   * no `Date` is made per job. */
  function render(rows) {
    const chunk = chunkOf(rows.slice(0, 200).map(([interval]) => ({ interval })));
    shape = SHAPES[chunk];
    // The newest job of each chunk (an interval submitted again shows its latest job).
    const newest = new Map();
    let first = null;
    let last = null;
    for (const row of rows) {
      const start = row[0].slice(0, row[0].indexOf("/"));
      if (first === null || start < first) first = start;
      if (last === null || start > last) last = start;
      const key = cellKey(shape, start);
      const known = newest.get(key);
      if (!known || (row[3] || 0) >= (known.accepted_at || 0)) {
        newest.set(key, { interval: row[0], phase: row[1], job_id: row[2], accepted_at: row[3] });
      }
    }
    const grid = new Map();
    for (const iso of chunkStarts(chunk, first, last)) {
      const row = shape.row(iso);
      if (!grid.has(row)) grid.set(row, []);
      grid.get(row).push(iso);
    }
    const cols = `cols-${shape.cols}`;
    const blank = '<span class="cell blank"></span>';
    const lineOf = ([row, isos]) => {
      const line = Array(shape.cols).fill(blank);
      for (const iso of isos) {
        const key = cellKey(shape, iso);
        line[shape.col(iso)] = cellHtml(key, newest.get(key), iso, chunk);
      }
      const name = esc(rowLabel(chunk, row));
      return `<span class="row-label">${name}</span><div class="cells ${cols}" role="group" aria-label="${name}">${line.join("")}</div>`;
    };
    const entries = [...grid];
    cells.clear();
    const head = Array.from({ length: shape.cols }, (_, i) => `<span>${shape.head(i)}</span>`).join("");
    calendar.innerHTML = `<span class="row-label"></span><div class="cells axis ${cols}" aria-hidden="true">${head}</div>`;
    const token = ++drawing;
    const slice = document.createElement("template");
    const add = (from, count) => {
      if (token !== drawing) return;
      slice.innerHTML = entries.slice(from, from + count).map(lineOf).join("");
      for (const cell of slice.content.querySelectorAll("[data-key]")) cells.set(cell.dataset.key, cell);
      calendar.append(slice.content);
      if (from + count >= entries.length) return;
      const next = () => add(from + count, 60);
      if (from === 0) requestAnimationFrame(() => setTimeout(next, 0));
      else setTimeout(next, 0);
    };
    add(0, 30);
    const counts = {};
    for (const job of newest.values()) counts[job.phase] = (counts[job.phase] || 0) + 1;
    status.textContent = `${newest.size} ${chunk}s with a job, one cell per ${chunk}: ` +
      PHASES.filter((p) => counts[p]).map((p) => `${counts[p]} ${p}`).join(", ");
  }

  const show = (event) => {
    const cell = event.target.closest(".cell");
    if (cell && cell.title) detail.textContent = cell.title;
  };
  calendar.addEventListener("mouseover", show);
  calendar.addEventListener("focusin", show);

  async function load() {
    try {
      if (!ds.value) {
        const first = await api("/v1/jobs?limit=200", { signal: abort.signal });
        const names = [...new Set(first.jobs.map((j) => j.datasource))].sort();
        known.replaceChildren(...names.map((n) => h("option", { value: n })));
        if (!names.length) {
          status.textContent = "No job has been submitted yet.";
          return;
        }
        if (!ds.value) ds.value = names[0]; // unless typed in meanwhile
      }
      const query = new URLSearchParams({ view: "cells" });
      if (params.from) query.set("from", `${params.from}T00:00:00Z`);
      if (params.to) query.set("to", `${params.to}T00:00:00Z`);
      status.textContent = "Loading…";
      // Marks for bench/ui_console.py: where a large calendar's time goes.
      performance.mark("coverage-asked");
      const answer = await api(`/v1/datasources/${encodeURIComponent(ds.value)}/coverage?${query}`, { signal: abort.signal });
      performance.mark("coverage-answered");
      // A standby (docs/ha.md) answers coverage with job views, not cells.
      const rows = answer.cells || (answer.jobs || []).map((j) => [j.interval, j.phase, j.job_id, j.accepted_at]);
      if (!rows.length) {
        calendar.replaceChildren();
        status.textContent = `No job of ${ds.value} in this range.`;
        return;
      }
      render(rows);
      performance.mark("coverage-drawn");
    } catch (error) {
      if (error.name === "AbortError") return;
      status.textContent = "";
      showNotice(`Coverage could not be read: ${error.message}`);
    }
  }

  const unsubscribe = feed.subscribe((jobs) => {
    if (!shape) return;
    for (const job of jobs) {
      if (job.datasource !== ds.value) continue;
      const start = new Date(Date.parse(job.interval.split("/")[0])).toISOString();
      const cell = cells.get(cellKey(shape, start));
      if (!cell || (job.accepted_at || 0) < Number(cell.dataset.accepted || 0)) continue;
      if (cell.tagName === "A") paint(cell, job);
      else {
        const link = h("a", { class: "cell" });
        paint(link, job);
        cell.replaceWith(link);
        cells.set(cellKey(shape, start), link);
      }
    }
  });
  load();
  return () => {
    abort.abort();
    unsubscribe();
  };
}
