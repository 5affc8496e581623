// Small DOM helpers and the formats every view shares.

/** An element: h("a", {href: "#"}, "text", child). Attributes starting with "on" are listeners. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export const PHASES = [
  "accepted", "submitting", "submitted", "waiting", "pending", "running", "failed",
  "retry_wait", "cancelling", "succeeded", "cancelled", "dead",
];

export function badge(phase) {
  return h("span", { class: `badge ph-${phase}`, "data-phase": phase }, phase);
}

export function jobLink(id, text) {
  return h("a", { href: `#/job/${encodeURIComponent(id)}` }, text ?? id);
}

/** A time in seconds since the epoch, as UTC (what the daemon and Druid log). */
export function fmtTime(seconds) {
  if (seconds === null || seconds === undefined) return "";
  return new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19) + "Z";
}

export function fmtDuration(seconds) {
  if (!(seconds >= 0)) return "";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

/** A job's interval without its zeros: 2023-01-01/2023-01-02 for a day. */
export function shortInterval(interval) {
  return interval.replace(/T00:00:00(\.000)?Z/g, "").replace(/:00(\.000)?Z/g, "Z");
}

const notice = () => document.getElementById("notice");

export function showNotice(message) {
  const el = notice();
  el.textContent = message;
  el.hidden = false;
}

export function noticeShown() {
  return !notice().hidden;
}

export function clearNotice() {
  notice().hidden = true;
}

/** The hash route's query as an object (#/jobs?phase=dead -> {phase: "dead"}). */
export function routeParams() {
  const hash = location.hash.slice(1);
  const q = hash.indexOf("?");
  return Object.fromEntries(new URLSearchParams(q >= 0 ? hash.slice(q + 1) : ""));
}

export function setRoute(path, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v != null));
  const text = query.toString();
  location.hash = `#${path}${text ? `?${text}` : ""}`;
}

/** Run `fn` at most once every `ms`, the last call always run. */
export function throttle(fn, ms) {
  let timer = null;
  let pending = false;
  return () => {
    if (timer) {
      pending = true;
      return;
    }
    fn();
    timer = setTimeout(function again() {
      timer = null;
      if (pending) {
        pending = false;
        fn();
        timer = setTimeout(again, ms);
      }
    }, ms);
  };
}

/** A labelled form control: the label names only the control (no option text in its name). */
export function field(label, control) {
  control.id ||= `field-${control.name}`;
  return h("span", { class: "field" }, h("label", { for: control.id }, label), control);
}
