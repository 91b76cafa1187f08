// The labeling page. The server decides what to show; this page shows it, sends what the person
// did, and refreshes the live figures. Four views, switched by the buttons at the top or keys
// 1-4 (and kept in the address's #fragment, so a reload stays put):
//   pages      a page of images, each with a proposed answer; flip the wrong ones, confirm all
//   one        one image at a time (or a grid of the queue): keep / discard / skip per key press
//   clusters   keep or discard a whole cluster, its outliers shown first to flip
//   review     the labels the classifier most disagrees with, to flip the slips
// Every button works with the mouse; every key is written on the button it presses. No outside requests.
"use strict";

const TOKEN = document.querySelector('meta[name="curate-token"]').content;
const TILE_KEYS = "abcdefghijklmnopqrstuvwxy";   // one letter per tile of a page of up to 25 (z is undo)
const VIEWS = ["pages", "one", "clusters", "review"];

const $ = (id) => document.getElementById(id);
const imageUrl = (idx) => `/image/${idx}.png`;
const other = (label) => (label === "keep" ? "discard" : "keep");

let view = VIEWS.includes(location.hash.slice(1)) ? location.hash.slice(1) : "pages";
let sending = Promise.resolve();   // posts are chained so an undo never overtakes what it undoes

async function api(path, body) {
  const response = await fetch(path, body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Curate-Token": TOKEN },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

function send(path, body) {
  const sent = sending.then(() => api(path, body));
  sending = sent.catch((error) => { $("stats").textContent = `not saved: ${error.message}`; });
  return sent;
}

// --- live figures and recent labels -----------------------------------------------------------

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

// --- views ------------------------------------------------------------------------------------

function show(name) {
  view = name;
  history.replaceState(null, "", `#${name}`);
  for (const button of document.querySelectorAll("#views button")) {
    button.classList.toggle("active", button.dataset.view === name);
  }
  $("one").hidden = name !== "one";
  $("page").hidden = name !== "pages";
  $("clusters").hidden = name !== "clusters";
  $("review").hidden = name !== "review";
  if (name === "pages") loadPage();
  if (name === "one") refill();
  if (name === "clusters") loadClusters();
  if (name === "review") loadReview();
}

// --- a page of tiles: pages, a cluster's outliers, the review --------------------------------

// The page on screen: {kind, items: [{idx, proposed, answer, probability}], cluster?, answer?}
let page = null;

function tile(item, i, onFlip) {
  const figure = document.createElement("figure");
  figure.className = `tile ${item.answer}` + (item.answer !== item.proposed ? " flipped" : "");
  figure.dataset.idx = item.idx;
  figure.dataset.answer = item.answer;
  const img = document.createElement("img");
  img.src = imageUrl(item.idx);
  img.alt = `image ${item.idx}`;
  const caption = document.createElement("figcaption");
  const key = document.createElement("kbd");
  key.textContent = TILE_KEYS[i];
  caption.append(key, ` ${item.answer}` + (item.answer !== item.proposed ? " (flipped)" : ""));
  figure.title = `#${item.idx}` + (item.probability == null ? "" : ` · p(keep) = ${item.probability.toFixed(2)}`);
  figure.append(img, caption);
  figure.onclick = () => onFlip(i);
  return figure;
}

function renderTiles(container, items, onFlip) {
  container.replaceChildren(...items.map((item, i) => tile(item, i, onFlip)));
}

function flip(i) {
  const item = page && page.items[i];
  if (!item) return;
  item.answer = other(item.answer);
  renderPage();
}

function describePage(p) {
  const n = p.items.length;
  if (p.kind === "cluster") {
    const which = p.shown === "doubtful" ? `the classifier doubts most` : "farthest from the centre";
    const why = p.fromClusters ? "" : ` (the classifier says nearly all of it is ${p.answer})`;
    return `Cluster ${p.cluster}${why}: its ${n} members ${which}, proposed ${p.answer}. ` +
      `Confirming also labels its ${p.unseen} other unlabelled members ${p.answer}, unseen.`;
  }
  const why = {
    explore: "no keep and discard yet: typical images of every cluster, then far-apart and random ones",
    ranked: "the unlabelled images the classifier ranks highest",
    "keep-band": "the images just above the classifier's threshold",
    "discard-band": "the images just below the classifier's threshold",
    uncertain: "the images the classifier is least sure of",
    mixed: "half the images the classifier is least sure of, half at random",
    random: "images at random",
  }[p.kind] || p.kind;
  return `${n} images: ${why}. Each shows the classifier's proposal.`;
}

function renderPage() {
  $("page-empty").hidden = !page || page.items.length > 0;
  $("page-back").hidden = !page || !page.fromClusters;
  if (!page) return;
  $("page-why").textContent = describePage(page);
  renderTiles($("tiles"), page.items, flip);
}

function asPage(json, extra = {}) {
  return { ...json, ...extra, items: json.items.map((item) => ({ ...item, answer: item.proposed })) };
}

async function loadPage() {
  await sending;
  page = asPage(await api("/api/page"));
  renderPage();
}

async function confirmPage() {
  if (!page || page.items.length === 0) return;
  const confirmed = page;
  page = null;
  $("tiles").replaceChildren();
  const items = confirmed.items.map((item) => ({ idx: item.idx, label: item.answer }));
  for (const item of items) addRecent(item.idx, item.label);
  if (confirmed.kind === "cluster") {
    await send("/api/cluster", { cluster: confirmed.cluster, answer: confirmed.answer, items });
    refreshState();
    if (confirmed.fromClusters) show("clusters");   // back where it was opened; a proposed cluster page is followed by the next page
    else loadPage();
    return;
  }
  await send("/api/page", { items });
  refreshState();
  loadPage();
}

async function undoPage() {
  await send("/api/undo", {});
  refreshState();
  show(view);
}

// --- clusters ---------------------------------------------------------------------------------

let clusterCursor = 0;
let clusterList = [];

async function loadClusters() {
  await sending;
  clusterList = await api("/api/clusters");
  renderClusters();
}

function renderClusters() {
  clusterCursor = Math.min(clusterCursor, Math.max(clusterList.length - 1, 0));
  $("cluster-list").replaceChildren(...clusterList.map((c, i) => {
    const card = document.createElement("div");
    card.className = "cluster" + (i === clusterCursor ? " cursor" : "");
    card.dataset.cluster = c.cluster;
    const thumbs = document.createElement("div");
    for (const idx of c.typical) {
      const img = document.createElement("img");
      img.src = imageUrl(idx);
      thumbs.append(img);
    }
    const predicted = c.predicted_keep === null ? "" : ` · predicted ${(100 * c.predicted_keep).toFixed(0)} % keep`;
    const text = document.createElement("p");
    text.textContent = `cluster ${c.cluster}: ${c.size} images · labelled ${c.keep} keep, ${c.discard} discard${predicted}`;
    const keep = document.createElement("button");
    keep.textContent = "keep all…";
    keep.onclick = (event) => { event.stopPropagation(); openCluster(c.cluster, "keep"); };
    const discard = document.createElement("button");
    discard.textContent = "discard all…";
    discard.onclick = (event) => { event.stopPropagation(); openCluster(c.cluster, "discard"); };
    card.onclick = () => { clusterCursor = i; renderClusters(); };
    card.append(thumbs, text, keep, discard);
    return card;
  }));
}

async function openCluster(cluster, answer) {
  await sending;
  page = asPage(await api(`/api/cluster/${cluster}?answer=${answer}`), { cluster, answer, fromClusters: true });
  view = "pages";
  for (const name of ["one", "clusters", "review"]) $(name).hidden = true;
  $("page").hidden = false;
  renderPage();
}

// --- review -----------------------------------------------------------------------------------

let review = [];   // [{idx, label, answer, disagreement}]

async function loadReview() {
  await sending;
  review = (await api("/api/review?n=20")).map((r) => ({ ...r, proposed: r.label, answer: r.label, probability: null }));
  renderReview();
}

function renderReview() {
  $("review-empty").hidden = review.length > 0;
  renderTiles($("review-tiles"), review, (i) => { review[i].answer = other(review[i].answer); renderReview(); });
}

async function confirmReview() {
  const flipped = review.filter((r) => r.answer !== r.label).map((r) => ({ idx: r.idx, label: r.answer }));
  if (flipped.length === 0) return;
  await send("/api/page", { items: flipped });
  refreshState();
  loadReview();
}

// --- one by one -------------------------------------------------------------------------------

const queue = [];          // [{idx, reason, probability}] still to label; queue[cursor] is shown
let cursor = 0;
let gridView = false;
let refilling = false;

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
  renderOne();
}

function describe(q) {
  if (q.reason === "typical") return "typical of its cluster";
  if (q.reason === "undone") return "undone: label it again";
  if (q.reason === "random") return "a random image: no keep and discard yet";
  return `classifier unsure: p(keep) = ${q.probability.toFixed(2)}`;
}

function renderOne() {
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
    img.onclick = () => { cursor = i; renderOne(); };
    return img;
  }));
}

function label(name) {
  const q = queue[cursor];
  if (!q) return;
  queue.splice(cursor, 1);
  addRecent(q.idx, name);
  renderOne();
  send("/api/label", { idx: q.idx, label: name }).then(refreshState).then(refill);
}

function undoOne() {
  send("/api/undo", {}).then(({ indices }) => {
    for (const idx of indices.slice().reverse()) {
      const at = queue.findIndex((x) => x.idx === idx);
      if (at >= 0) queue.splice(at, 1);
      queue.unshift({ idx, reason: "undone", probability: null });
    }
    cursor = 0;
    renderOne();
    refreshState();
  });
}

// --- mouse and keys ---------------------------------------------------------------------------

for (const button of document.querySelectorAll("#views button")) button.onclick = () => show(button.dataset.view);
$("one-keep").onclick = () => label("keep");
$("one-discard").onclick = () => label("discard");
$("one-skip").onclick = () => label("skip");
$("one-undo").onclick = undoOne;
$("one-grid").onclick = () => { gridView = !gridView; renderOne(); };
$("page-confirm").onclick = confirmPage;
$("page-undo").onclick = undoPage;
$("page-back").onclick = () => show("clusters");
$("review-confirm").onclick = confirmReview;
$("review-undo").onclick = undoPage;

function keyAction(key) {
  const viewKey = { 1: "pages", 2: "one", 3: "clusters", 4: "review" }[key];
  if (viewKey) return () => show(viewKey);
  if (view === "one") {
    return { ArrowRight: () => label("keep"), ArrowLeft: () => label("discard"), ArrowDown: () => label("skip"),
             u: undoOne, g: () => { gridView = !gridView; renderOne(); } }[key];
  }
  if (view === "pages") {
    if (TILE_KEYS.includes(key)) return () => flip(TILE_KEYS.indexOf(key));
    return { Enter: confirmPage, z: undoPage, Escape: () => page && page.fromClusters && show("clusters") }[key];
  }
  if (view === "review") {
    if (TILE_KEYS.includes(key)) {
      return () => {
        const r = review[TILE_KEYS.indexOf(key)];
        if (r) { r.answer = other(r.answer); renderReview(); }
      };
    }
    return { Enter: confirmReview, z: undoPage }[key];
  }
  if (view === "clusters") {
    const move = (step) => () => {
      clusterCursor = Math.max(0, Math.min(clusterList.length - 1, clusterCursor + step));
      renderClusters();
    };
    const open = (answer) => () => clusterList.length && openCluster(clusterList[clusterCursor].cluster, answer);
    return { ArrowRight: move(1), ArrowDown: move(1), ArrowLeft: move(-1), ArrowUp: move(-1),
             k: open("keep"), d: open("discard") }[key];
  }
  return undefined;
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const action = keyAction(event.key);
  if (action) {
    event.preventDefault();
    action();
  }
});

refreshState();
show(view);
