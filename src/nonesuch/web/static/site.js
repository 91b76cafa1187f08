// One random generated image at a time; another on click, Space or →, with the next one
// already downloaded and decoded so it appears at once. ← goes back through what was shown.
//
// window.NONESUCH_SITE (set by images.js) says where images come from:
//   static: {mode: "static", count: N}   image n's entry (file under img/, size, generation
//           record) is records/<n>.js, a script so it loads from file:// too; the page loads
//           only the entries it shows, so its weight does not grow with the number of images
//   live:   {mode: "live", api: "api/next"}  the server hands out a freshly generated image
"use strict";
(() => {
  const site = window.NONESUCH_SITE || { mode: "static", count: 0 };
  const picture = document.getElementById("picture");
  const caption = document.getElementById("caption");
  const status = document.getElementById("status");
  const recordList = document.getElementById("record");
  const download = document.getElementById("download");
  const verifyCommand = document.getElementById("verify-command");
  const aboutWords = document.getElementById("about-words");
  const SMALL_IMAGE = 128;   // px; below this, show pixels crisply rather than blurred

  // ---- where the next image comes from -------------------------------------------------------

  const shuffled = (n) => {            // Fisher-Yates: every image once before any repeats
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    return order;
  };
  const order = shuffled(site.count || 0);
  let drawn = 0;

  const pendingEntries = new Map();   // n -> resolve, for records/<n>.js callbacks
  window.nonesuchRecord = (n, entry) => {
    const resolve = pendingEntries.get(n);
    pendingEntries.delete(n);
    if (resolve) resolve(entry);
  };
  const loadEntry = (n) => new Promise((resolve, reject) => {
    pendingEntries.set(n, resolve);
    const script = document.createElement("script");
    script.src = `records/${n}.js`;
    script.onload = () => script.remove();
    script.onerror = () => { script.remove(); reject(new Error(`no entry ${n}`)); };
    document.head.append(script);
  });

  async function nextStaticEntry() {
    const entry = await loadEntry(order[drawn++ % order.length]);
    return { ...entry, src: entry.file };
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function nextLiveEntry() {
    for (let attempt = 0; ; attempt++) {
      const response = await fetch(site.api, { cache: "no-store" });
      if (response.ok) return response.json();
      if (response.status !== 429 && response.status !== 503 || attempt >= 20) {
        throw new Error(`the server answered ${response.status}`);
      }
      // Busy: wait as long as the server asks, then try again.
      status.textContent = "The generator is busy; waiting for a fresh image…";
      await sleep(1000 * Number(response.headers.get("Retry-After") || 1));
    }
  }

  // An entry is ready when its image is downloaded and decoded, so showing it is instant.
  async function prepare() {
    const entry = await (site.mode === "live" ? nextLiveEntry() : nextStaticEntry());
    const image = new Image();
    image.src = entry.src;
    await image.decode();
    return entry;
  }

  // ---- showing it ----------------------------------------------------------------------------

  const shown = [];        // entries in the order they were shown
  let position = -1;       // index in `shown` of the one on screen
  let upcoming = null;     // Promise of the preloaded next entry
  let busy = false;

  const fileName = (entry) => entry.file ? entry.file.split("/").pop() : entry.src.split("/").pop();

  function describe(entry) {
    const record = entry.record || {};
    const parts = [];
    const className = record.class_name ?? record.class;
    if (className != null) parts.push(className.replaceAll("-", " "));
    if (record.seed != null) parts.push(`seed ${record.seed}`);
    if (entry.width) parts.push(`${entry.width}×${entry.height} px`);
    return parts.join(" · ") || fileName(entry);
  }

  // The record in words, for a person: which generator, trained on what (and under which
  // licence), when and from which seed. The table below keeps every field for checking.
  function inWords(record) {
    const sentences = [];
    let made = "A computer made this image; it is not a photograph or drawing of anything real.";
    if (record.run) {
      made = `The generator “${record.run}” made this image` +
        (record.checkpoint ? ` (checkpoint ${record.checkpoint})` : "") +
        "; it is not a photograph or drawing of anything real.";
    }
    sentences.push(made);
    if (record.trained_on) {
      sentences.push(`That generator learned from ${record.trained_on}` +
        (record.licence ? `, licensed ${record.licence}, so this image is shared under the same terms` : "") + ".");
    }
    if (record.attribution) sentences.push(`Credit: ${record.attribution}.`.replace("..", "."));
    const when = record.created ? new Date(record.created) : null;
    if (when && !Number.isNaN(when.getTime())) {
      sentences.push(`It was generated on ${when.toISOString().slice(0, 10)} at ` +
        `${when.toISOString().slice(11, 16)} UTC` + (record.seed != null ? ` from seed ${record.seed}` : "") + ".");
    }
    return sentences.join(" ");
  }

  function fillRecord(entry) {
    aboutWords.textContent = inWords(entry.record || {});
    const rows = { file: fileName(entry), sha256: entry.sha256, ...(entry.record || {}) };
    recordList.replaceChildren();
    for (const [key, value] of Object.entries(rows)) {
      if (value == null || value === "") continue;
      const term = document.createElement("dt");
      const detail = document.createElement("dd");
      term.textContent = key.replaceAll("_", " ");
      detail.textContent = typeof value === "object" ? JSON.stringify(value) : String(value);
      recordList.append(term, detail);
    }
    download.href = entry.src;
    download.download = fileName(entry);
    verifyCommand.textContent = `nonesuch verify ${fileName(entry)}`;
  }

  // Shown at a whole multiple of its own pixels, drawn as pixels: a 64 px emoji enlarged 4x to
  // 256 px and shown at 512 stays sharp, where any other factor blurs it or makes uneven pixels.
  // An image larger than the room is scaled down smoothly as before.
  function fitCrisply(entry) {
    const width = entry.width || 0;
    const room = Math.min(innerWidth * 0.88, innerHeight * 0.66, 720);
    if (!width || width > room) {
      picture.style.removeProperty("--picture");
      picture.classList.toggle("small", width > 0 && width < SMALL_IMAGE);
      return;
    }
    picture.style.setProperty("--picture", `${Math.floor(room / width) * width}px`);
    picture.classList.add("small");
  }

  function show(entry) {
    picture.src = entry.src;
    picture.alt = entry.alt || "An AI-generated image";
    fitCrisply(entry);
    picture.classList.remove("loading");
    caption.textContent = describe(entry);
    status.textContent = "";
    fillRecord(entry);
  }

  function failed(error) {
    picture.classList.remove("loading");
    status.textContent = `Could not load an image: ${error.message}. Press → to try again.`;
    upcoming = null;
  }

  async function next() {
    if (busy) return;
    if (position < shown.length - 1) { show(shown[++position]); return; }
    busy = true;
    picture.classList.add("loading");
    try {
      const entry = await (upcoming || prepare());
      shown.push(entry);
      position = shown.length - 1;
      show(entry);
      upcoming = prepare();
      upcoming.catch(() => { upcoming = null; });   // a failed preload is retried on demand
    } catch (error) {
      failed(error);
    } finally {
      busy = false;
    }
  }

  function previous() {
    if (position > 0) show(shown[--position]);
  }

  // ---- input ---------------------------------------------------------------------------------

  document.getElementById("next-image").addEventListener("click", next);
  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    // Space and Enter on a focused control do what that control does (the image button: next).
    const onControl = event.target.closest && event.target.closest("button, a, summary, input, textarea, select");
    if (event.key === "ArrowRight" || (event.key === " " && !onControl)) {
      event.preventDefault();
      next();
    } else if (event.key === "ArrowLeft") {
      event.preventDefault();
      previous();
    }
  });

  if (site.mode === "static" && !order.length) {
    status.textContent = "This site has no images.";
  } else {
    next();
  }
})();
