// Images: a grid of thumbnails with keyset paging, search and sort, and drag-and-drop upload.
import {api, uploadFile} from "../api.js";
import {field, h, idPath, say} from "../dom.js";

const THUMB = "width=240,height=240,fit=cover";
const TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp", "image/avif", "image/svg+xml", "image/heic"];

export function thumbnail(image) {
  const src = `/dashboard/api/preview?id=${encodeURIComponent(image.id)}&options=${encodeURIComponent(THUMB)}`;
  return h("li", {class: "tile"},
    h("a", {href: `#/image/${encodeURIComponent(image.id)}`},
      h("img", {src, alt: image.filename || image.id, loading: "lazy", width: 240, height: 240}),
      h("span", {class: "tile-id"}, image.id)),
    image.creator ? h("span", {class: "muted small"}, image.creator) : null);
}

export async function imagesPage(state) {
  const grid = h("ul", {class: "grid", "aria-label": "Images"});
  const more = h("button", {type: "button", class: "quiet", hidden: true}, "Load more");
  const search = h("input", {type: "search", placeholder: "id, creator or metadata"});
  const sort = h("select", {},
    h("option", {value: "desc"}, "Newest first"), h("option", {value: "asc"}, "Oldest first"));
  let token = null;
  let generation = 0;

  async function load(reset) {
    const mine = reset ? ++generation : generation;
    if (reset) { token = null; grid.replaceChildren(); }
    const query = new URLSearchParams({q: search.value, sort_order: sort.value, per_page: "48"});
    if (token) query.set("continuation_token", token);
    try {
      const page = await api(`/dashboard/api/search?${query}`);
      if (mine !== generation) return;
      grid.append(...page.images.map(thumbnail));
      token = page.continuation_token;
      more.hidden = !token;
      if (!grid.children.length) grid.append(h("li", {class: "muted"}, search.value ? "No image matches." : "No images yet: drop some here."));
    } catch (error) { say(error.message, "error"); }
  }

  let timer = 0;
  search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => load(true), 250); });
  sort.addEventListener("change", () => load(true));
  more.addEventListener("click", () => load(false));

  const queue = h("ul", {class: "queue", "aria-label": "Uploads"});
  const input = h("input", {type: "file", multiple: true, accept: TYPES.join(","), class: "visually-hidden", id: "files"});
  const zone = h("div", {class: "drop", tabindex: "0", role: "button", "aria-describedby": "drop-help"},
    h("strong", {}, "Drop images here"), " or ",
    h("label", {for: "files", class: "link"}, "choose files"),
    h("span", {id: "drop-help", class: "muted small"}, ` — JPEG, PNG, GIF, WebP, AVIF, SVG, HEIC; up to ${Math.round(state.account.max_upload_bytes / 1e6)} MB each`));
  zone.append(input);
  zone.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); input.click(); } });
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    enqueue([...event.dataTransfer.files]);
  });
  input.addEventListener("change", () => { enqueue([...input.files]); input.value = ""; });

  const waiting = [];
  let running = 0;

  function enqueue(files) {
    for (const file of files) {
      const bar = h("progress", {max: "1", value: "0", "aria-label": `Upload of ${file.name}`});
      const note = h("span", {class: "small"}, "waiting");
      const retry = h("button", {type: "button", class: "quiet", hidden: true}, "Retry");
      const item = h("li", {}, h("span", {class: "name"}, file.name), bar, note, retry);
      const job = {file, bar, note, retry, item};
      retry.addEventListener("click", () => { retry.hidden = true; item.classList.remove("failed"); waiting.push(job); pump(); });
      queue.append(item);
      if (state.account.max_upload_bytes && file.size > state.account.max_upload_bytes) {
        fail(job, `too large (${Math.round(file.size / 1e6)} MB); the limit is ${Math.round(state.account.max_upload_bytes / 1e6)} MB`, false);
      } else if (file.type && !TYPES.includes(file.type)) {
        fail(job, `not an image type the service takes (${file.type})`, false);
      } else {
        waiting.push(job);
      }
    }
    pump();
  }

  function fail(job, message, retryable) {
    job.note.textContent = message;
    job.item.classList.add("failed");
    job.retry.hidden = !retryable;
  }

  function pump() {
    while (running < 3 && waiting.length) {
      const job = waiting.shift();
      running += 1;
      job.note.textContent = "uploading";
      uploadFile(job.file, (fraction) => { job.bar.value = fraction; })
        .then((image) => {
          job.bar.value = 1;
          job.note.textContent = "done";
          job.item.classList.add("done");
          const empty = grid.querySelector("li.muted");
          if (empty) empty.remove();
          if (sort.value === "desc") grid.prepend(thumbnail(image)); else grid.append(thumbnail(image));
        })
        .catch((error) => fail(job, error.message, true))
        .finally(() => { running -= 1; pump(); });
    }
  }

  await load(true);
  return h("section", {"aria-labelledby": "images-title"},
    h("h1", {id: "images-title"}, "Images"),
    zone, queue,
    h("div", {class: "toolbar"}, field("Search", search), field("Sort", sort)),
    grid, more);
}
