// Thin wrappers over the REST API; every error comes back as {error, fields}.
// When the server has API_TOKEN set, the first 401 asks for the token once and the
// page keeps it in localStorage (also used for Socket.IO and downloads).
const TOKEN_KEY = "trainboard-token";
export const getToken = () => localStorage.getItem(TOKEN_KEY) || "";

// The URL the server logs (http://host:8000/?token=...) hands the page its token once:
// keep it, then take it out of the address bar and history.
(function takeTokenFromUrl() {
  const url = new URL(window.location.href);
  const token = url.searchParams.get("token");
  if (!token) return;
  localStorage.setItem(TOKEN_KEY, token.trim());
  url.searchParams.delete("token");
  history.replaceState(null, "", url.pathname + url.search + url.hash);
})();

// Several requests can meet a 401 together (the page opens with the run list, the
// sweeps and the workers): the one that finds the token already changed since it was
// sent just retries, so the user is asked once.
export function askToken(sentWith = getToken()) {
  if (getToken() !== sentWith) return true;
  const token = window.prompt("This Trainboard needs its API token:");
  if (token) localStorage.setItem(TOKEN_KEY, token.trim());
  return Boolean(token);
}

export function authHeaders(extra = {}) {
  const token = getToken();
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

export async function api(path, options = {}, retried = false) {
  const sentWith = getToken();
  const response = await fetch(path, { ...options, headers: authHeaders({ "Content-Type": "application/json" }) });
  if (response.status === 401 && !retried && askToken(sentWith)) return api(path, options, true);
  const body = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) {
    const error = new Error(body.error || `HTTP ${response.status}`);
    error.fields = body.fields || {};
    error.status = response.status;
    throw error;
  }
  return body;
}

// One page of the run list, newest first: {runs, next_cursor} (null at the end).
export function listRuns({ status = "", q = "", cursor = null, limit = 100 } = {}) {
  const params = new URLSearchParams({ limit: String(limit) });
  if (status) params.set("status", status);
  if (q) params.set("q", q);
  if (cursor) params.set("cursor", cursor);
  return api(`/api/runs?${params}`);
}
export const getRun = (id) => api(`/api/runs/${id}`);
export const submitRun = (spec) => api("/api/runs", { method: "POST", body: JSON.stringify(spec) });
export const cancelRun = (id) => api(`/api/runs/${id}/cancel`, { method: "POST" });
export const eventsAfter = (id, after, limit = 1000) =>
  api(`/api/runs/${id}/events?after=${after}&limit=${limit}`).then((b) => b.events);
// A curve of the run: at most `points` min/max/mean buckets of x in [start, end].
export function series(id, name, { start = null, end = null, points = 1000 } = {}) {
  const q = new URLSearchParams({ points: String(points) });
  if (start != null) q.set("start", String(start));
  if (end != null) q.set("end", String(end));
  return api(`/api/runs/${id}/series/${name}?${q}`);
}
export const epochs = (id) => api(`/api/runs/${id}/epochs`);
export const listSweeps = () => api("/api/sweeps").then((b) => b.sweeps);
export const getSweep = (id) => api(`/api/sweeps/${id}`);
export const createSweep = (body) => api("/api/sweeps", { method: "POST", body: JSON.stringify(body) });
export const cancelSweep = (id) => api(`/api/sweeps/${id}/cancel`, { method: "POST", body: "{}" });
// An artifact as an object URL (fetched with the token), e.g. a samples sprite.
export async function artifactUrl(id, name) {
  const response = await fetch(`/api/runs/${id}/artifacts/${encodeURIComponent(name)}`, { headers: authHeaders() });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return URL.createObjectURL(await response.blob());
}
export const listArtifacts = (id) => api(`/api/runs/${id}/artifacts`).then((b) => b.artifacts);
export const listWorkers = () => api("/api/workers").then((b) => b.workers);
// Downloads go through fetch so they can carry the token.
export async function downloadArtifact(id, name, retried = false) {
  const sentWith = getToken();
  const response = await fetch(`/api/runs/${id}/artifacts/${encodeURIComponent(name)}`, { headers: authHeaders() });
  if (response.status === 401 && !retried && askToken(sentWith)) return downloadArtifact(id, name, true);
  if (!response.ok) throw new Error(`download failed: HTTP ${response.status}`);
  saveBlob(name, await response.blob());
}

// Hands a blob to the browser as a file download.
export function saveBlob(name, blob) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

export const predict = (id, pixels) => api(`/api/runs/${id}/predict`, { method: "POST", body: JSON.stringify({ pixels }) });
export const activations = (id, pixels) =>
  api(`/api/runs/${id}/activations`, { method: "POST", body: JSON.stringify({ pixels }) });
export const modelSummary = (id) => api(`/api/runs/${id}/model`);
export function layers(id, layer = null, kind = "weights") {
  return api(`/api/runs/${id}/layers${layer ? `?${new URLSearchParams({ layer, kind })}` : ""}`);
}
export const filters = (id) => api(`/api/runs/${id}/filters`);
export const forkRun = (id, body) => api(`/api/runs/${id}/fork`, { method: "POST", body: JSON.stringify(body) });
