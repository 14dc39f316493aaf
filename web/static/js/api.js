// Thin wrappers over the REST API; every error comes back as {error, fields}.
export async function api(path, options = {}) {
  const response = await fetch(path, {
    headers: { "Content-Type": "application/json" },
    ...options,
  });
  const body = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) {
    const error = new Error(body.error || `HTTP ${response.status}`);
    error.fields = body.fields || {};
    error.status = response.status;
    throw error;
  }
  return body;
}

export const listRuns = () => api("/api/runs").then((b) => b.runs);
export const getRun = (id) => api(`/api/runs/${id}`);
export const submitRun = (spec) => api("/api/runs", { method: "POST", body: JSON.stringify(spec) });
export const cancelRun = (id) => api(`/api/runs/${id}/cancel`, { method: "POST" });
export const eventsAfter = (id, after) => api(`/api/runs/${id}/events?after=${after}`).then((b) => b.events);
export const listArtifacts = (id) => api(`/api/runs/${id}/artifacts`).then((b) => b.artifacts);
export const listWorkers = () => api("/api/workers").then((b) => b.workers);
export const predict = (id, pixels) => api(`/api/runs/${id}/predict`, { method: "POST", body: JSON.stringify({ pixels }) });
