// imgpipe local gallery: uploads by presigned POST, live status from /_dev/snapshot, a URL playground.
// Plain JavaScript, no build step. Every string from the server or a file name goes in as text, never HTML.
"use strict";

const state = {
  config: null,
  images: [],
  batches: [],
  queues: {},
  counts: {},
  events: [],
  eventsAfter: 0,
  deliveryAvailable: false,
  uploads: new Map(), // id -> {name, size, loaded, status, key, error, batch}
  selectedKey: null,
  lastSnapshot: 0,
};
const $ = (id) => document.getElementById(id);

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "style") node.style.cssText = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(path, { method = "GET", body } = {}) {
  // Every POST is JSON: the dev server refuses other content types (a cross-site form cannot send JSON).
  if (method === "POST" && body === undefined) body = {};
  const response = await fetch(path, {
    method,
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text }; }
  if (!response.ok) {
    const error = new Error((data && (data.detail || data.title)) || `${response.status}`);
    error.problem = data;
    throw error;
  }
  return data;
}

function formatBytes(bytes) {
  if (bytes == null) return "";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function keyPath(key) {
  return "/" + key.split("/").map(encodeURIComponent).join("/");
}

function shortName(key) {
  return key.split("/").slice(-1)[0];
}

// BlurHash (https://blurha.sh): decoded into a small canvas used as the placeholder while images load.
const BLURHASH_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~";
const blurhashCache = new Map();

function decode83(text) {
  let value = 0;
  for (const char of text) {
    const digit = BLURHASH_CHARS.indexOf(char);
    if (digit < 0) throw new Error("not a blurhash");
    value = value * 83 + digit;
  }
  return value;
}
const srgbToLinear = (value) => {
  const v = value / 255;
  return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
};
const linearToSrgb = (value) => {
  const v = Math.max(0, Math.min(1, value));
  return v <= 0.0031308 ? Math.round(v * 12.92 * 255 + 0.5) : Math.round((1.055 * Math.pow(v, 1 / 2.4) - 0.055) * 255 + 0.5);
};
const signPow = (value, exponent) => Math.sign(value) * Math.pow(Math.abs(value), exponent);

function blurhashUrl(hash, width = 32, height = 32) {
  if (!hash || hash.length < 6) return null;
  if (blurhashCache.has(hash)) return blurhashCache.get(hash);
  try {
    const sizeFlag = decode83(hash[0]);
    const ny = Math.floor(sizeFlag / 9) + 1;
    const nx = (sizeFlag % 9) + 1;
    if (hash.length !== 4 + 2 * nx * ny) throw new Error("bad length");
    const maxAc = (decode83(hash[1]) + 1) / 166;
    const colours = [];
    for (let i = 0; i < nx * ny; i++) {
      if (i === 0) {
        const dc = decode83(hash.substring(2, 6));
        colours.push([srgbToLinear(dc >> 16), srgbToLinear((dc >> 8) & 255), srgbToLinear(dc & 255)]);
      } else {
        const ac = decode83(hash.substring(4 + i * 2, 6 + i * 2));
        const quant = [Math.floor(ac / 361), Math.floor(ac / 19) % 19, ac % 19];
        colours.push(quant.map((q) => signPow((q - 9) / 9, 2) * maxAc));
      }
    }
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext("2d");
    const pixels = context.createImageData(width, height);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let r = 0, g = 0, b = 0;
        for (let j = 0; j < ny; j++) {
          for (let i = 0; i < nx; i++) {
            const basis = Math.cos((Math.PI * x * i) / width) * Math.cos((Math.PI * y * j) / height);
            const colour = colours[i + j * nx];
            r += colour[0] * basis; g += colour[1] * basis; b += colour[2] * basis;
          }
        }
        const offset = 4 * (x + y * width);
        pixels.data[offset] = linearToSrgb(r);
        pixels.data[offset + 1] = linearToSrgb(g);
        pixels.data[offset + 2] = linearToSrgb(b);
        pixels.data[offset + 3] = 255;
      }
    }
    context.putImageData(pixels, 0, 0);
    const url = canvas.toDataURL();
    blurhashCache.set(hash, url);
    return url;
  } catch {
    blurhashCache.set(hash, null);
    return null;
  }
}

function placeholderStyle(image) {
  const url = blurhashUrl(image.blurhash);
  if (url) return `background-image:url(${url})`;
  if (image.dominant_colour) return `background-color:${image.dominant_colour}`;
  return "";
}

// Header chips: queues, dead letters, delivery and API availability.

function renderChips() {
  const chips = $("chips");
  chips.replaceChildren();
  const dead = Object.values(state.queues).reduce((sum, lane) => sum + (lane.dlq ? lane.dlq.visible + lane.dlq.in_flight : 0), 0);
  for (const [lane, depth] of Object.entries(state.queues)) {
    const queue = depth.queue || { visible: 0, in_flight: 0 };
    const busy = queue.visible + queue.in_flight;
    chips.append(el("span", { class: `chip ${busy ? "warn" : ""}`, title: "waiting / in flight" }, `${lane}: ${queue.visible} waiting · ${queue.in_flight} in flight`));
  }
  const deadChip = el("span", { class: `chip ${dead ? "bad" : "good"}` }, `dead letters: ${dead}`);
  if (dead) {
    deadChip.append(el("button", {
      type: "button",
      onclick: async () => {
        const result = await api("/_dev/redrive", { method: "POST" });
        const moved = Object.values(result.moved).reduce((a, b) => a + b, 0);
        deadChip.replaceChildren(`moved ${moved} back`);
        refreshSoon();
      },
    }, "redrive"));
  }
  chips.append(deadChip);
  chips.append(el("span", { class: `chip ${state.deliveryAvailable ? "good" : "warn"}`, title: state.config && state.config.delivery.reason || "" },
    state.deliveryAvailable ? "on-demand delivery: on" : "on-demand delivery: not available yet"));
  const apiOn = Boolean(state.config && state.config.api.available);
  chips.append(apiOn
    ? el("a", { class: "chip good", href: state.config.api.docs, target: "_blank", title: `x-api-key: see ${state.config.api.keys_file} or the dev console` }, "API /v1: on (docs)")
    : el("span", { class: "chip warn", title: state.config ? state.config.api.reason || "" : "" }, "API /v1: not available (501)"));
  if (state.config) chips.append(el("span", { class: "chip", title: "URL signing policy" }, `signing: ${state.config.signing_policy}`));
}

// Uploads

function renderUploads() {
  const list = $("uploads");
  list.replaceChildren();
  for (const [, upload] of state.uploads) {
    const image = upload.key && state.images.find((candidate) => candidate.source_key === upload.key);
    let status = upload.status;
    if (image) status = image.status;
    const fraction = upload.size ? upload.loaded / upload.size : 0;
    list.append(el("li", {},
      el("span", { class: "name", title: upload.key || upload.name }, upload.name, upload.batch ? el("span", { class: "muted" }, ` · batch ${upload.batch}`) : null),
      el("progress", { max: 1, value: upload.status === "uploading" || upload.status === "presigning" ? fraction : 1 }),
      upload.error ? el("span", { class: "error" }, upload.error) : el("span", { class: `badge ${status}` }, status)));
  }
}

async function uploadOne(file, batch) {
  const id = `${Date.now()}-${Math.random()}`;
  const upload = { name: file.name, size: file.size, loaded: 0, status: "presigning", batch };
  state.uploads.set(id, upload);
  renderUploads();
  try {
    const post = await api("/_dev/uploads", {
      method: "POST",
      body: { name: file.name, type: file.type, size: file.size, batch },
    });
    upload.key = post.key;
    upload.status = "uploading";
    const form = new FormData();
    for (const [name, value] of Object.entries(post.fields)) form.append(name, value);
    form.append("file", file); // S3 wants the file last
    await new Promise((resolve, reject) => {
      const request = new XMLHttpRequest();
      request.open("POST", post.url);
      request.upload.onprogress = (event) => { upload.loaded = event.loaded; renderUploads(); };
      request.onload = () => {
        if (request.status >= 200 && request.status < 300) return resolve();
        const message = (request.responseText.match(/<Message>([^<]*)<\/Message>/) || [])[1];
        reject(new Error(message || `upload refused (${request.status})`));
      };
      request.onerror = () => reject(new Error("network error"));
      request.send(form);
    });
    upload.loaded = upload.size;
    upload.status = "PROCESSING";
  } catch (error) {
    upload.status = "failed";
    upload.error = error.message;
  }
  renderUploads();
  refreshSoon();
}

async function uploadFiles(files) {
  if (!files.length) return;
  let batch = null;
  if ($("as-batch").checked) {
    const name = $("batch-name").value.trim() || `batch-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-")}`;
    try {
      const opened = await api("/_dev/batches", { method: "POST", body: { name, expected: files.length } });
      batch = opened.batch_id;
    } catch (error) {
      alert(`The batch could not be opened: ${error.message}`);
      return;
    }
  }
  const queue = [...files];
  const workers = Array.from({ length: Math.min(3, queue.length) }, async () => {
    while (queue.length) await uploadOne(queue.shift(), batch);
  });
  await Promise.all(workers);
}

function setUpDropZone() {
  const drop = $("drop");
  const picker = $("picker");
  picker.addEventListener("change", () => { uploadFiles([...picker.files]); picker.value = ""; });
  drop.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") picker.click(); });
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.remove("over"); });
  }
  drop.addEventListener("drop", (event) => uploadFiles([...event.dataTransfer.files]));
  // Dropping anywhere else must not navigate away from the gallery.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
}

// Batches

function renderBatches() {
  const panel = $("batches-panel");
  const list = $("batches");
  panel.hidden = state.batches.length === 0;
  list.replaceChildren();
  for (const batch of state.batches) {
    const expected = batch.expected || 0;
    const uploaded = state.images.filter((image) => image.batch_id === batch.batch_id && image.tenant === batch.tenant).length;
    const summary = `${batch.done}/${expected || "?"} done · ${batch.ready} ready · ${batch.rejected} rejected${batch.deleted ? ` · ${batch.deleted} deleted` : ""} · ${uploaded} seen`;
    list.append(el("li", {},
      el("span", { class: "name" }, `${batch.tenant}/${batch.batch_id}`),
      el("progress", { max: expected || 1, value: Math.min(batch.done, expected || 1) }),
      el("span", {}, batch.completed ? el("span", { class: "badge READY" }, "COMPLETED") : el("span", { class: "badge PROCESSING" }, "OPEN"), " ", el("span", { class: "muted" }, summary))));
  }
}

// Gallery

function cardFor(image) {
  const thumbUrl = image.urls && (image.urls.thumb || Object.values(image.urls)[0]);
  const thumb = el("div", { class: "thumb", style: placeholderStyle(image) });
  if (image.status === "READY" && thumbUrl) {
    const img = el("img", { alt: image.seo_name || shortName(image.source_key), loading: "lazy", src: thumbUrl });
    // Once loaded, the placeholder goes: it would show through a transparent thumbnail.
    img.addEventListener("load", () => { img.classList.add("loaded"); thumb.classList.add("image-loaded"); });
    img.addEventListener("error", () => thumb.append(el("span", { class: "note" }, "no thumbnail")));
    thumb.append(img);
  } else if (image.status === "PROCESSING") {
    thumb.append(el("div", { class: "spinner", role: "status", "aria-label": "processing" }));
  } else if (image.status === "REJECTED") {
    thumb.append(el("span", { class: "note" }, "rejected: kept in quarantine/"));
  }
  const size = image.width ? `${image.width}×${image.height} ${image.format}` : "";
  return el("button", { type: "button", class: "card", "data-key": image.source_key, "data-status": image.status, onclick: () => openDetail(image.source_key) },
    thumb,
    el("div", { class: "meta" },
      el("span", { class: "name", title: image.source_key }, shortName(image.source_key)),
      el("span", {}, el("span", { class: `badge ${image.status}` }, image.status), " ", el("span", { class: "muted" }, size)),
      image.status === "REJECTED" ? el("span", { class: "reason" }, `${image.reason}: ${image.reason_message || ""}`) : null));
}

function renderGallery() {
  const grid = $("grid");
  const showDeleted = $("show-deleted").checked;
  const shown = state.images.filter((image) => showDeleted || image.status !== "DELETED");
  $("empty").hidden = shown.length > 0;
  const counts = state.counts;
  $("counts").textContent = Object.entries(counts).map(([status, count]) => `${count} ${status.toLowerCase()}`).join(" · ");
  // Rebuild only what changed, so loaded thumbnails do not flicker.
  const existing = new Map([...grid.children].map((node) => [node.dataset.key, node]));
  const fragment = document.createDocumentFragment();
  for (const image of shown) {
    const signature = `${image.status}|${image.image_id}|${image.updated_at}`;
    let node = existing.get(image.source_key);
    if (!node || node.dataset.signature !== signature) {
      node = cardFor(image);
      node.dataset.signature = signature;
    }
    fragment.append(node);
  }
  grid.replaceChildren(fragment);
}

function renderEvents() {
  const list = $("events");
  list.replaceChildren(...state.events.slice(-60).reverse().map((event) => {
    const detail = event.detail || {};
    const note = detail.reason ? `${detail.source_key || ""} (${detail.reason})` : detail.source_key || `${detail.tenant || ""}/${detail.batch_id || ""}`;
    return el("li", {}, el("span", { class: "muted" }, event.time.slice(11, 19)), el("strong", {}, event.type), el("span", { class: "name" }, note));
  }));
}

// Detail: facts, renditions, URL playground

function factRows(image) {
  const rows = [
    ["key", el("code", {}, image.source_key)],
    ["image id", el("code", {}, image.image_id)],
    ["status", el("span", {}, el("span", { class: `badge ${image.status}` }, image.status), image.reason ? ` ${image.reason}: ${image.reason_message || ""}` : "")],
    ["format", image.format ? `${image.format} (${image.media_type})` : null],
    ["size", image.width ? `${image.width} × ${image.height}` : null],
    ["bytes", image.bytes != null ? formatBytes(image.bytes) : null],
    ["frames", image.frames ? `${image.frames}${image.animated ? " (animated)" : ""}` : null],
    ["orientation", image.orientation],
    ["alpha", image.has_alpha == null ? null : image.has_alpha ? "yes" : "no"],
    ["colour profile", image.colour_profile],
    ["camera", image.camera],
    ["taken at", image.taken_at],
    ["GPS", image.had_gps ? "present in the source, stripped from every output" : image.had_gps === false ? "none" : null],
    ["dominant colour", image.dominant_colour ? el("span", {}, el("span", { class: "swatch", style: `background:${image.dominant_colour}` }), image.dominant_colour) : null],
    ["blurhash", image.blurhash ? el("code", {}, image.blurhash) : null],
    ["perceptual hash", image.phash ? el("code", {}, image.phash) : null],
    ["focal point", image.focal_point ? image.focal_point.map((v) => v.toFixed(3)).join(", ") : null],
    ["tags", image.tags && image.tags.length ? image.tags.join(", ") : null],
    ["SEO name", image.seo_name],
    ["batch", image.batch_id],
    ["duplicate of", image.duplicate_of],
    ["sha256", image.sha256 ? el("code", {}, image.sha256.slice(0, 16) + "…") : null],
    ["uploaded", image.created_at],
    ["processed", image.processed_at],
    ["quarantine", image.quarantine_key],
  ];
  return rows.filter(([, value]) => value !== null && value !== undefined && value !== "")
    .map(([label, value]) => el("tr", {}, el("th", {}, label), el("td", {}, value)));
}

function currentImage() {
  return state.images.find((image) => image.source_key === state.selectedKey);
}

function openDetail(key) {
  state.selectedKey = key;
  const image = currentImage();
  if (!image) return;
  $("detail-title").textContent = shortName(key);
  const preview = $("detail-preview");
  preview.replaceChildren();
  preview.style.cssText = placeholderStyle(image);
  preview.classList.remove("image-loaded");
  const large = image.urls && (image.urls.medium || image.urls.large || image.urls.small);
  if (image.status === "READY" && large) {
    const img = el("img", { alt: image.seo_name || shortName(key), src: large });
    img.addEventListener("load", () => {
      img.classList.add("loaded");
      preview.classList.add("image-loaded");
      if (image.focal_point) {
        const box = img.getBoundingClientRect();
        const outer = preview.getBoundingClientRect();
        const left = box.left - outer.left + image.focal_point[0] * box.width;
        const top = box.top - outer.top + image.focal_point[1] * box.height;
        preview.append(el("span", { class: "focal", title: "focal point", style: `left:${left}px;top:${top}px` }));
      }
    });
    preview.append(img);
  } else {
    preview.append(el("span", { class: "muted" }, image.status === "PROCESSING" ? "processing…" : "no rendition"));
  }
  $("facts").replaceChildren(...factRows(image));
  $("rendition-count").textContent = image.renditions.length ? `(${image.renditions.length}, rendered at ingest)` : "";
  $("renditions").replaceChildren(
    el("tr", {}, el("th", {}, "preset"), el("th", {}, "format"), el("th", {}, "size"), el("th", {}, "bytes")),
    ...image.renditions.map((rendition) => el("tr", {},
      el("td", {}, el("a", { href: `${keyPath(image.source_key)}?preset=${encodeURIComponent(rendition.preset || "")}&fm=${rendition.format}`, target: "_blank", rel: "noopener" }, rendition.preset || "—")),
      el("td", {}, rendition.format),
      el("td", {}, `${rendition.width}×${rendition.height}`),
      el("td", {}, formatBytes(rendition.bytes)))));
  // A rejected original is in quarantine/ already; a deleted one is gone.
  $("delete-button").disabled = !["READY", "PROCESSING"].includes(image.status);
  const dialog = $("detail");
  dialog.dataset.signature = `${image.status}|${image.updated_at}`;
  if (!dialog.open) dialog.showModal();
  updatePlayground();
}

let playgroundTimer = null;
let playgroundSequence = 0;

function playgroundQuery() {
  const form = $("playground");
  const data = new FormData(form);
  const parts = [];
  for (const name of ["preset", "w", "h", "fit", "fm", "q", "dpr", "g", "rot", "flip", "blur", "sharp", "bg"]) {
    const value = (data.get(name) || "").toString().trim();
    if (value) parts.push(`${name}=${encodeURIComponent(value)}`);
  }
  if (data.get("gray")) parts.push("gray=1");
  if (data.get("up")) parts.push("up=1");
  const extra = (data.get("extra") || "").toString().trim().replace(/^[?&]+/, "");
  if (extra) parts.push(extra);
  return parts.join("&");
}

function updatePlayground() {
  clearTimeout(playgroundTimer);
  playgroundTimer = setTimeout(runPlayground, 200);
}

async function runPlayground() {
  const image = currentImage();
  if (!image) return;
  const sequence = ++playgroundSequence;
  const form = new FormData($("playground"));
  const expires = Number(form.get("expires") || 0);
  const urlText = $("url-text");
  const notes = $("url-notes");
  const head = $("live-head");
  const live = $("live-image");
  let built;
  try {
    built = await api("/_dev/url", {
      method: "POST",
      body: {
        key: image.source_key,
        query: playgroundQuery(),
        sign: Boolean(form.get("sign")),
        expires_at: expires ? Math.floor(Date.now() / 1000) + expires : null,
      },
    });
  } catch (error) {
    if (sequence !== playgroundSequence) return;
    urlText.textContent = "";
    notes.textContent = "";
    head.replaceChildren(el("span", { class: "error" }, `400 ${error.problem && error.problem.param ? `${error.problem.param}: ` : ""}${error.message}`));
    live.replaceChildren();
    return;
  }
  if (sequence !== playgroundSequence) return;
  urlText.textContent = built.absolute;
  notes.textContent = built.signed
    ? `signed (HMAC-SHA256 over the canonical path and query: ${built.canonical || "(none)"})`
    : built.needs_signature ? "needs a signature under this policy" : "unsigned: named presets may go unsigned under this policy";
  const started = performance.now();
  try {
    const response = await fetch(built.url);
    const blob = await response.blob();
    if (sequence !== playgroundSequence) return;
    const elapsed = Math.round(performance.now() - started);
    head.replaceChildren(
      el("strong", {}, `${response.status}`),
      el("span", {}, response.headers.get("content-type") || ""),
      el("span", {}, formatBytes(blob.size)),
      el("span", {}, `${elapsed} ms`),
      el("span", { title: "which origin answered" }, `from ${response.headers.get("x-imgpipe-origin") || "?"}`),
      response.headers.get("vary") ? el("span", {}, `vary: ${response.headers.get("vary")}`) : null,
      response.redirected ? el("span", {}, "after a redirect") : null);
    if (response.ok && (response.headers.get("content-type") || "").startsWith("image/")) {
      const objectUrl = URL.createObjectURL(blob);
      const img = el("img", { alt: "rendition", src: objectUrl });
      img.addEventListener("load", () => {
        head.append(el("span", {}, `${img.naturalWidth}×${img.naturalHeight}`));
        URL.revokeObjectURL(objectUrl);
      });
      live.replaceChildren(img);
    } else {
      let problem = null;
      try { problem = JSON.parse(await blob.text()); } catch { problem = null; }
      live.replaceChildren(el("div", { class: "problem" },
        problem ? `${problem.title}: ${problem.detail}${problem.param ? ` (${problem.param})` : ""}` : `HTTP ${response.status}`));
    }
  } catch (error) {
    if (sequence === playgroundSequence) live.replaceChildren(el("div", { class: "problem" }, error.message));
  }
}

function setUpDetail() {
  const form = $("playground");
  form.addEventListener("input", updatePlayground);
  form.addEventListener("change", updatePlayground);
  form.addEventListener("submit", (event) => event.preventDefault());
  $("copy-url").addEventListener("click", async () => {
    const text = $("url-text").textContent;
    try { await navigator.clipboard.writeText(text); $("copy-url").textContent = "Copied"; } catch { /* clipboard needs a secure context */ }
    setTimeout(() => { $("copy-url").textContent = "Copy"; }, 1200);
  });
  $("delete-button").addEventListener("click", async () => {
    const image = currentImage();
    if (!image || !confirm(`Delete ${image.source_key}? Its renditions go too.`)) return;
    await api("/_dev/delete", { method: "POST", body: { key: image.source_key } });
    $("detail").close();
    refreshSoon();
  });
  $("show-deleted").addEventListener("change", () => refresh());
}

// Polling

let refreshTimer = null;

function busy() {
  const processing = state.images.some((image) => image.status === "PROCESSING");
  const uploading = [...state.uploads.values()].some((upload) => ["presigning", "uploading"].includes(upload.status));
  const queued = Object.values(state.queues).some((lane) => lane.queue && lane.queue.visible + lane.queue.in_flight > 0);
  return processing || uploading || queued;
}

function refreshSoon(delay = 150) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, delay);
}

async function refresh() {
  clearTimeout(refreshTimer);
  try {
    const deleted = $("show-deleted").checked ? "&deleted=1" : "";
    const snapshot = await api(`/_dev/snapshot?events_after=${state.eventsAfter}${deleted}`);
    state.images = snapshot.images;
    state.batches = snapshot.batches;
    state.queues = snapshot.queues;
    state.counts = snapshot.counts;
    state.deliveryAvailable = snapshot.delivery_available;
    if (snapshot.events.length) {
      state.events.push(...snapshot.events);
      state.eventsAfter = snapshot.events[snapshot.events.length - 1].number;
    }
    renderChips();
    renderUploads();
    renderBatches();
    renderGallery();
    renderEvents();
    const dialog = $("detail");
    if (dialog.open) {
      const image = currentImage();
      if (image && dialog.dataset.signature !== `${image.status}|${image.updated_at}`) openDetail(state.selectedKey);
    }
    document.body.dataset.ready = "1";
  } catch (error) {
    $("chips").replaceChildren(el("span", { class: "chip bad" }, `dev server unreachable: ${error.message}`));
  }
  refreshTimer = setTimeout(refresh, busy() ? 800 : 3000);
}

async function start() {
  setUpDropZone();
  setUpDetail();
  try {
    state.config = await api("/_dev/config");
    const select = $("preset-select");
    for (const name of Object.keys(state.config.presets)) select.append(el("option", { value: name }, name));
  } catch (error) {
    $("chips").replaceChildren(el("span", { class: "chip bad" }, `dev server unreachable: ${error.message}`));
  }
  $("detail").addEventListener("close", () => { state.selectedKey = null; });
  await refresh();
}

start();
