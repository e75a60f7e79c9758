// gencurate rate: show a pair, take an answer (buttons or ← → ↓), show the prefetched next pair at once.
"use strict";

const $ = (id) => document.getElementById(id);
const els = {
  pair: $("pair"), leftImg: $("left-img"), rightImg: $("right-img"),
  buttons: [$("left-btn"), $("right-btn"), $("unsure-btn")],
  rater: $("rater"), count: $("count"), status: $("status"),
};
const RATER_KEY = "gencurate-rater";
const KEYS = { ArrowLeft: "left", ArrowRight: "right", ArrowDown: "unsure" };

let current = null;  // the pair to answer, null while waiting for the next one
let displayed = null;  // the pair whose images are on screen (its blob URLs are freed when replaced)
let next = null;     // Promise of the prefetched pair
let count = 0;
let shown = 0;       // pairs shown so far (exposed as data-shown for tests and debugging)

function setStatus(text, isError = false) {
  els.status.textContent = text;
  els.status.classList.toggle("error", isError);
}

function errorMessage(body, status) {
  const detail = body && body.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
  return `HTTP ${status}`;
}

async function fetchOk(url, options) {
  const response = await fetch(url, options);
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    throw new Error(errorMessage(body, response.status));
  }
  return response;
}

// Fetch a pair and both images as blobs, decoded, so showing it later costs nothing.
async function fetchPair() {
  const pair = await (await fetchOk("/api/pair", { cache: "no-store" })).json();
  await Promise.all([pair.left, pair.right].map(async (side) => {
    side.src = URL.createObjectURL(await (await fetchOk(side.url)).blob());
    const img = new Image();
    img.src = side.src;
    await img.decode().catch(() => {});
  }));
  return pair;
}

function prefetch() {
  next = fetchPair();
  next.catch(() => {});  // handled when awaited in advance()
}

function setBusy(busy) {
  els.pair.setAttribute("aria-busy", String(busy));
  for (const b of els.buttons) b.disabled = busy;
}

function show(pair) {
  const old = displayed;
  current = displayed = pair;
  for (const [img, side] of [[els.leftImg, pair.left], [els.rightImg, pair.right]]) {
    img.src = side.src;
    img.dataset.ref = `${side.method}/${side.seed}/${side.index}`;
  }
  if (old) for (const side of [old.left, old.right]) URL.revokeObjectURL(side.src);
  shown += 1;
  els.pair.dataset.shown = String(shown);
  setBusy(false);
}

async function advance() {
  try {
    const pair = await next;
    prefetch();
    show(pair);
  } catch (err) {
    setStatus(`could not load the next pair: ${err.message}; retrying`, true);
    setTimeout(() => { prefetch(); advance(); }, 2000);
  }
}

const ref = (side) => ({ method: side.method, seed: side.seed, index: side.index });

async function sendVote(pair, answer) {
  const body = { left: ref(pair.left), right: ref(pair.right), answer };
  const rater = els.rater.value.trim();
  if (rater) body.rater = rater;
  try {
    await fetchOk("/api/vote", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    count += 1;
    els.count.textContent = String(count);
    setStatus("");
  } catch (err) {
    setStatus(`vote not saved: ${err.message}`, true);
  }
}

function answer(choice) {
  if (!current) return;  // next pair not there yet: ignore double clicks and held keys
  const pair = current;
  current = null;
  setBusy(true);
  const button = els.buttons.find((b) => b.dataset.answer === choice);
  button.classList.add("flash");
  setTimeout(() => button.classList.remove("flash"), 150);
  sendVote(pair, choice);
  advance();
}

for (const b of els.buttons) b.addEventListener("click", () => answer(b.dataset.answer));

document.addEventListener("keydown", (event) => {
  if (event.target === els.rater || event.repeat || event.altKey || event.ctrlKey || event.metaKey) return;
  const choice = KEYS[event.key];
  if (!choice) return;
  event.preventDefault();
  answer(choice);
});

els.rater.addEventListener("change", () => {
  localStorage.setItem(RATER_KEY, els.rater.value.trim());
  els.rater.blur();  // back to the arrow keys
});
els.rater.addEventListener("keydown", (event) => { if (event.key === "Enter") els.rater.blur(); });

async function start() {
  prefetch();
  try {
    const config = await (await fetchOk("/api/config")).json();
    els.rater.value = localStorage.getItem(RATER_KEY) || config.rater;
  } catch (err) {
    setStatus(`could not load the configuration: ${err.message}`, true);
  }
  await advance();
}

start();
