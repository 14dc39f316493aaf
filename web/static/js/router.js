// The page's address says what is shown, so back and forward, bookmarks, reloads and an
// address edited by hand all work: #run=<id>[&tab=inside|files] or #sweep=<id>, either
// with &compare=<id>,<id>… (the runs ticked "compare"). Every pick goes through go(),
// which makes a history entry; the page shows whatever the address says (app.js route).
const ID = /^[0-9a-f]{32}$/;
export const TABS = ["overview", "inside", "files"];

export function parseAddress(hash = location.hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const id = (v) => (v && ID.test(v) ? v : null);
  const run = id(params.get("run"));
  const tab = params.get("tab");
  // An address that names a run or a sweep by something that is no id: said, not ignored.
  const named = ["run", "sweep"].find((kind) => params.get(kind) && !id(params.get(kind)));
  return {
    missing: named && !run ? { kind: named, value: params.get(named).slice(0, 100) } : null,
    run,
    sweep: run ? null : id(params.get("sweep")),
    tab: run && TABS.includes(tab) ? tab : "overview",
    compare: [...new Set((params.get("compare") || "").split(",").filter((v) => ID.test(v)))],
  };
}

export function formatAddress({ run = null, sweep = null, tab = "overview", compare = [] }) {
  const parts = [];
  if (run) parts.push(`run=${run}`);
  else if (sweep) parts.push(`sweep=${sweep}`);
  if (run && tab !== "overview") parts.push(`tab=${tab}`);
  if (compare.length) parts.push(`compare=${compare.join(",")}`);
  return parts.length ? `#${parts.join("&")}` : "";
}

// The current address with `changes`, as a new history entry; `show` draws it (hash
// changes announce themselves, an address going back to none does not).
export function go(changes, show) {
  const hash = formatAddress({ ...parseAddress(), ...changes });
  if (hash === location.hash) {
    show();
    return;
  }
  if (hash) {
    location.hash = hash;
    return;
  }
  history.pushState(null, "", location.pathname + location.search);
  show();
}

// The run-compare list with `id` ticked or unticked.
export function toggled(ids, id) {
  return ids.includes(id) ? ids.filter((x) => x !== id) : [...ids, id];
}
