// Talking to the control API: the bearer token (kept in this tab's sessionStorage, never in a
// cookie, so no other site's request can carry it), JSON requests, the metrics text, and the
// change feed every live view listens to.

const TOKEN_KEY = "druid-orch.token";

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY) || "",
  set: (value) => (value ? sessionStorage.setItem(TOKEN_KEY, value) : sessionStorage.removeItem(TOKEN_KEY)),
};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function headers(json) {
  const out = { Accept: json ? "application/json" : "text/plain" };
  const given = token.get();
  if (given) out.Authorization = `Bearer ${given}`;
  return out;
}

async function send(path, init) {
  let response;
  try {
    // A standby answers writes (and the reads it leaves to the leader) with a 307 to the
    // leader, another origin: followed, it would fail as a cross-origin request, so it is
    // caught here and said plainly (docs/ha.md).
    response = await fetch(path, { credentials: "omit", cache: "no-store", redirect: "manual", ...init });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "the daemon does not answer");
  }
  if (response.type === "opaqueredirect") {
    throw new ApiError(307, "this daemon is a standby: the leader acts (see Health for its console)");
  }
  if (!response.ok) {
    let message = response.statusText;
    try {
      message = (await response.json()).error || message;
    } catch {
      // not JSON: keep the status text
    }
    if (response.status === 401) authListeners.forEach((fn) => fn());
    throw new ApiError(response.status, message);
  }
  return response;
}

const authListeners = new Set();
/** Call `fn` whenever a request is refused for want of a valid token. */
export function onUnauthorized(fn) {
  authListeners.add(fn);
}

/** GET (or POST with `body`) a JSON route; throws ApiError with the API's own message. */
export async function api(path, { method = "GET", body, signal } = {}) {
  const init = { method, headers: headers(true), signal };
  if (method !== "GET") {
    // The guard refuses a state-changing request that is not JSON: a cross-site form cannot
    // send one, and this page always does.
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body || {});
  }
  return withEpochTimes(await (await send(path, init)).json());
}

const TIME_FIELDS = ["accepted_at", "finished_at", "next_try_at", "since"];

// The API writes a job's times in ISO 8601 with `<name>_epoch` beside each; the views compute
// with seconds, so a job's times are its epochs here.
function withEpochTimes(answer) {
  if (!answer || typeof answer !== "object") return answer;
  const jobs = Array.isArray(answer.jobs) ? answer.jobs : [];
  for (const job of answer.job ? [...jobs, answer.job] : jobs) {
    if (!job || typeof job !== "object") continue;
    for (const name of TIME_FIELDS) {
      if (`${name}_epoch` in job) job[name] = job[`${name}_epoch`];
    }
  }
  return answer;
}

/** Prometheus text as {name: [{labels, value}]}, only for the names asked. */
export async function metrics(names, signal) {
  const text = await (await send("/metrics", { headers: headers(false), signal })).text();
  const wanted = new Set(names);
  const out = {};
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const brace = line.indexOf("{");
    const space = line.lastIndexOf(" ");
    const name = line.slice(0, brace >= 0 && brace < space ? brace : space);
    if (!wanted.has(name)) continue;
    const labels = {};
    if (brace >= 0 && brace < space) {
      const body = line.slice(brace + 1, line.lastIndexOf("}"));
      for (const m of body.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]] = m[2];
    }
    (out[name] ||= []).push({ labels, value: Number(line.slice(space + 1)) });
  }
  return out;
}

/** Jobs as the daemon sees them change: one long poll of `/v1/changes` shared by the views. */
class Feed {
  constructor() {
    this.listeners = new Set();
    this.statusListeners = new Set();
    this.position = null;
    this.running = false;
    this.waitS = 20;
  }

  subscribe(fn) {
    this.listeners.add(fn);
    this.start();
    return () => this.listeners.delete(fn);
  }

  onStatus(fn) {
    this.statusListeners.add(fn);
  }

  status(live, text) {
    this.statusListeners.forEach((fn) => fn(live, text));
  }

  restart() {
    if (!this.running) this.start();
  }

  async start() {
    if (this.running) return;
    this.running = true;
    let failures = 0;
    while (this.running) {
      try {
        if (this.position === null) {
          // Start from now: the views load their own first picture.
          this.position = (await api("/v1/changes?after=0&limit=1")).head;
        }
        this.status(true, "live");
        const answer = await api(`/v1/changes?after=${this.position}&wait=${this.waitS}`);
        failures = 0;
        this.position = answer.position;
        if (answer.jobs.length) this.listeners.forEach((fn) => fn(answer.jobs));
      } catch (error) {
        failures += 1;
        if (error.status === 401) {
          this.status(false, "needs the token");
          this.running = false;
          return;
        }
        this.status(false, `not live: ${error.message}`);
        await new Promise((done) => setTimeout(done, Math.min(10000, 500 * 2 ** failures)));
      }
    }
  }
}

export const feed = new Feed();
