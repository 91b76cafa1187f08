// The labeling page. The server decides what to show (typical images first, then the ones the
// classifier is least sure of); this page keeps a short queue of them, sends every key press in
// order, and refreshes the live figures. No outside requests.
"use strict";

const queue = [];          // [{idx, reason, probability}] still to label; queue[cursor] is shown
let cursor = 0;
let gridView = false;
let sending = Promise.resolve();   // posts are chained so undo never overtakes the label it undoes
let refilling = false;

const $ = (id) => document.getElementById(id);
const imageUrl = (idx) => `/image/${idx}.png`;

async function api(path, body) {
  const response = await fetch(path, body === undefined ? {} :
    { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

async function refill() {
  if (refilling || queue.length >= 6) return;
  refilling = true;
  try {
    await sending;
    const exclude = queue.map((q) => q.idx).join(",");
    const more = await api(`/api/next?n=12&exclude=${exclude}`);
    for (const q of more) if (!queue.some((x) => x.idx === q.idx)) queue.push(q);
  } finally {
    refilling = false;
  }
  render();
}

function describe(q) {
  if (q.reason === "typical") return "typical of its cluster";
  if (q.reason === "undone") return "undone: label it again";
  if (q.reason === "random") return "a random image: no keep and discard yet";
  return `classifier unsure: p(keep) = ${q.probability.toFixed(2)}`;
}

function render() {
  cursor = Math.min(cursor, Math.max(queue.length - 1, 0));
  $("empty").hidden = queue.length > 0;
  $("single").hidden = gridView;
  $("grid").hidden = !gridView;
  const q = queue[cursor];
  if (!gridView) {
    $("current").hidden = !q;
    if (q) {
      $("current").src = imageUrl(q.idx);
      $("current").dataset.idx = q.idx;
      $("why").textContent = `#${q.idx} · ${describe(q)}`;
    }
    return;
  }
  $("grid").replaceChildren(...queue.slice(0, 12).map((item, i) => {
    const img = document.createElement("img");
    img.src = imageUrl(item.idx);
    img.dataset.idx = item.idx;
    img.title = `#${item.idx} · ${describe(item)}`;
    if (i === cursor) img.className = "cursor";
    img.onclick = () => { cursor = i; render(); };
    return img;
  }));
}

function addRecent(idx, label) {
  const img = document.createElement("img");
  img.src = imageUrl(idx);
  img.className = label;
  img.dataset.idx = idx;
  img.dataset.label = label;
  img.title = `#${idx}: ${label}`;
  $("recent").prepend(img);
}

async function refreshState() {
  const s = await api("/api/state");
  $("target").textContent = s.target;
  const cv = s.cv.accuracy === null ? "CV: needs 2 keeps and 2 discards"
    : `CV (${s.cv.folds}-fold, ${s.cv.labels} labels): accuracy ${s.cv.accuracy.toFixed(3)}, AP ${s.cv.ap.toFixed(3)}`;
  const subset = s.predicted_subset === null ? "" : ` · predicted subset ${s.predicted_subset} of ${s.images}`;
  $("stats").textContent = `${s.counts.keep} keep · ${s.counts.discard} discard · ${s.counts.skip} skip · ${cv}${subset}`;
  $("recent").replaceChildren();
  for (const r of s.recent.slice().reverse()) addRecent(r.idx, r.label);
}

function label(name) {
  const q = queue[cursor];
  if (!q) return;
  queue.splice(cursor, 1);
  addRecent(q.idx, name);
  render();
  sending = sending.then(() => api("/api/label", { idx: q.idx, label: name }));
  sending.then(refreshState).then(refill);
}

function undo() {
  sending = sending.then(async () => {
    const { idx } = await api("/api/undo", {});
    if (idx === null) return;
    const at = queue.findIndex((x) => x.idx === idx);
    if (at >= 0) queue.splice(at, 1);
    queue.unshift({ idx, reason: "undone", probability: null });
    cursor = 0;
    render();
  });
  sending.then(refreshState);
}

document.addEventListener("keydown", (event) => {
  const actions = {
    ArrowRight: () => label("keep"), ArrowLeft: () => label("discard"), ArrowDown: () => label("skip"),
    u: undo, g: () => { gridView = !gridView; render(); },
  };
  if (actions[event.key] && !event.ctrlKey && !event.metaKey && !event.altKey) {
    event.preventDefault();
    actions[event.key]();
  }
});

refreshState().then(refill);
