// The Job view: one job's facts, its attempts drawn as a Gantt-like timeline, its Druid task
// ids, the failure classification with the rule and report excerpt, its event history, and
// Cancel and Retry. Kept current from the change feed.

import { api, feed } from "./api.js";
import { badge, fmtDuration, fmtTime, h, shortInterval, showNotice, throttle } from "./ui.js";

let settings = null;
async function consoleSettings() {
  if (!settings) settings = api("/v1/console").catch(() => ({ druid_console_url: null }));
  return settings;
}

/** A link to Druid's console for a task: `{task_id}` in the URL is replaced when present. */
export function druidTaskUrl(base, taskId) {
  if (!base) return null;
  const id = encodeURIComponent(taskId);
  return base.includes("{task_id}") ? base.replaceAll("{task_id}", id) : `${base}#ingestion/taskId=${id}`;
}

/** Attempts as bars: each a list of {phase, from, to} segments, with the wait before it. */
export function attempts(events, job, now) {
  const out = [];
  let current = null;
  let idleSince = null;
  const open = (phase, t) => {
    if (!current) return;
    if (current.open) current.segments.push({ phase: current.open.phase, from: current.open.t, to: t });
    current.open = phase ? { phase, t } : null;
  };
  const close = (t, outcome) => {
    if (!current || current.outcome) return;
    open(null, t);
    current.end = t;
    current.outcome = outcome;
    idleSince = t;
  };
  for (const e of events) {
    const t = e.recorded_at;
    if (e.type === "job_accepted" || e.type === "job_retried") idleSince = t;
    else if (e.type === "submit_intended") {
      if (current && current.attempt === e.attempt && !current.outcome) continue; // a re-POST
      current = { attempt: e.attempt, task: e.task_id, wait: idleSince === null ? null : [idleSince, t], segments: [], start: t, open: null };
      out.push(current);
      open("submitting", t);
    } else if (e.type === "submitted") open("submitted", t);
    else if (e.type === "status_observed") open(e.runner_status.toLowerCase(), t);
    else if (e.type === "task_succeeded") close(t, "succeeded");
    else if (e.type === "task_failed" || e.type === "submit_rejected") close(t, "failed");
    else if (e.type === "job_cancelled") close(t, "cancelled");
  }
  const last = events.length ? events[events.length - 1].recorded_at : now;
  const end = job.terminal ? last : now;
  for (const a of out) {
    if (a.outcome) continue;
    current = a;
    open(null, end);
    a.end = end;
  }
  // Waiting now for the next attempt (a retry's backoff, a held submission).
  const pending = !job.terminal && (!out.length || out[out.length - 1].outcome) && idleSince !== null
    ? [idleSince, end] : null;
  return { attempts: out, pending, start: events.length ? events[0].recorded_at : now, end };
}

function segment(cls, from, to, scale, text) {
  const el = h("span", { class: `seg ${cls}`, title: `${text}: ${fmtDuration(to - from)}` });
  el.style.left = `${scale(from)}%`;
  el.style.width = `${Math.max(0.3, scale(to) - scale(from))}%`;
  if (scale(to) - scale(from) > 9) el.textContent = text;
  return el;
}

function gantt(timeline) {
  const span = Math.max(timeline.end - timeline.start, 0.001);
  const scale = (t) => ((t - timeline.start) / span) * 100;
  const grid = h("div", { class: "gantt", role: "list", "aria-label": "Attempts" });
  for (const a of timeline.attempts) {
    const track = h("div", { class: "track" });
    const told = [];
    if (a.wait && a.wait[1] > a.wait[0]) {
      track.append(segment("wait", a.wait[0], a.wait[1], scale, "wait"));
      told.push(`waited ${fmtDuration(a.wait[1] - a.wait[0])}`);
    }
    for (const s of a.segments) {
      track.append(segment(`ph-${s.phase}`, s.from, s.to, scale, s.phase));
      told.push(`${s.phase} ${fmtDuration(s.to - s.from)}`);
    }
    told.push(a.outcome || "still going");
    track.setAttribute("aria-label", `attempt ${a.attempt}: ${told.join(", ")}`);
    track.setAttribute("role", "img");
    grid.append(h("span", { class: "label", role: "listitem" }, `attempt ${a.attempt}`,
      a.outcome ? h("span", {}, " · ", a.outcome) : null), track);
  }
  if (timeline.pending) {
    const track = h("div", { class: "track", role: "img", "aria-label": `waiting for the next attempt for ${fmtDuration(timeline.pending[1] - timeline.pending[0])}` },
      segment("wait", timeline.pending[0], timeline.pending[1], scale, "waiting"));
    grid.append(h("span", { class: "label", role: "listitem" }, "next attempt"), track);
  }
  grid.append(h("div", { class: "axis" }, h("span", {}, fmtTime(timeline.start)), h("span", {}, fmtDuration(span)), h("span", {}, fmtTime(timeline.end))));
  return grid;
}

function details(event) {
  const skip = new Set(["type", "seq", "version", "recorded_at", "spec", "report_excerpt"]);
  const fields = Object.entries(event).filter(([k, v]) => !skip.has(k) && v !== null && v !== "");
  return fields.map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join("  ");
}

export function jobView(main, id) {
  const abort = new AbortController();
  const status = h("p", { role: "status", class: "muted" }, "Loading…");
  main.append(h("p", {}, h("a", { href: "#/jobs" }, "← Jobs")), h("h1", {}, id), status);
  const body = h("div");
  main.append(body);

  async function act(action) {
    status.textContent = `${action}…`;
    try {
      const answer = await api(`/v1/jobs/${encodeURIComponent(id)}/${action}`, { method: "POST", body: action === "retry" ? { reason: "from the web console" } : {} });
      status.textContent = `${action === "cancel" ? "Cancel" : "Retry"} asked: the job is ${answer.job.phase}.`;
      load();
    } catch (error) {
      status.textContent = "";
      const what = action === "cancel" ? "Cancel" : "Retry";
      showNotice(`${what} refused (${error.status}): ${error.message}`);
    }
  }

  async function load() {
    try {
      const [{ job, events }, { druid_console_url: druid }] = await Promise.all([
        api(`/v1/jobs/${encodeURIComponent(id)}`, { signal: abort.signal }), consoleSettings()]);
      render(job, events, druid);
      if (status.textContent === "Loading…") status.textContent = "";
    } catch (error) {
      if (error.name === "AbortError") return;
      status.textContent = "";
      showNotice(`The job could not be read: ${error.message}`);
    }
  }

  function render(job, events, druid) {
    const failure = [...events].reverse().find((e) => e.type === "failure_classified");
    const tasks = [...new Set(events.filter((e) => e.task_id).map((e) => e.task_id))];
    const fact = (label, value) => (value === null || value === undefined || value === "" ? [] : [h("dt", {}, label), h("dd", {}, value)]);
    body.replaceChildren(
      h("div", { class: "actions" },
        h("button", { type: "button", class: "danger", disabled: job.terminal, onclick: () => act("cancel") }, "Cancel"),
        h("button", { type: "button", disabled: !["dead", "cancelled"].includes(job.phase), onclick: () => act("retry") }, "Retry")),
      h("dl", { class: "facts panel", "aria-label": "Job" },
        fact("Phase", h("span", { class: "phase" }, badge(job.phase))),
        fact("Datasource", h("a", { href: `#/coverage?ds=${encodeURIComponent(job.datasource)}` }, job.datasource)),
        fact("Interval", h("span", { class: "mono" }, shortInterval(job.interval))),
        fact("Attempt", `${job.attempt} of ${job.max_attempts}${job.uncounted ? ` (+${job.uncounted} not counted)` : ""}`),
        fact("Pipeline", job.pipeline),
        fact("Accepted", fmtTime(job.accepted_at)),
        fact("Finished", fmtTime(job.finished_at)),
        fact("Held", job.held),
        fact("Sub-tasks", job.sub_tasks_reason),
        fact("Last error", job.last_error)),
      h("h2", {}, "Timeline"),
      gantt(attempts(events, job, Date.now() / 1000)),
      h("h2", {}, "Druid tasks"),
      tasks.length ? h("ul", {}, tasks.map((t) => {
        const url = druidTaskUrl(druid, t);
        return h("li", { class: "mono" }, url ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, t) : t);
      })) : h("p", { class: "muted" }, "No task submitted yet."),
      failure || job.classification ? h("section", { "aria-label": "Failure" },
        h("h2", {}, "Failure"),
        h("dl", { class: "facts panel" },
          fact("Classification", job.classification || failure?.classification),
          fact("Rule", h("code", {}, job.rule || failure?.rule || "")),
          fact("Reason", job.reason || failure?.reason),
          fact("Evidence", failure?.evidence_source)),
        failure?.report_excerpt ? h("pre", { class: "excerpt", "aria-label": "Report excerpt" }, JSON.stringify(failure.report_excerpt, null, 2)) : null) : null,
      h("h2", {}, `History (${events.length} events)`),
      h("div", { class: "table-wrap" }, h("table", { "aria-label": "Event history" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "#"), h("th", { scope: "col" }, "Recorded"), h("th", { scope: "col" }, "Event"), h("th", { scope: "col", class: "hide-narrow" }, "Details"))),
        h("tbody", {}, events.map((e) => h("tr", {}, h("td", {}, e.version), h("td", {}, fmtTime(e.recorded_at)),
          h("td", { class: "mono" }, e.type), h("td", { class: "mono hide-narrow note" }, details(e))))))));
  }

  const reload = throttle(load, 500);
  const unsubscribe = feed.subscribe((jobs) => {
    if (jobs.some((j) => j.job_id === id)) reload();
  });
  load();
  return () => {
    abort.abort();
    unsubscribe();
  };
}
