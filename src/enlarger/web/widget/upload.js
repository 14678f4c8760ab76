/* Enlarger upload widget: <enlarger-upload endpoint="/your/backend/upload-url"></enlarger-upload>
 * and EnlargerUpload.upload(file, {endpoint}) — the direct creator upload flow, no framework.
 *
 * 1. POST the host application's `endpoint` (same-origin, its cookies) → {uploadURL} (its backend
 *    asked Enlarger for a one-time URL with its own API token; the browser never sees a token);
 * 2. POST the file to uploadURL as multipart `file`, with progress (XHR upload events);
 * 3. dispatch `enlarger-upload` with {id, filename, variants, record} — or `enlarger-error`.
 * Network failures are retried (`retries`, default 3, with backoff); refusals (4xx) are not.
 */
(() => {
  "use strict";
  const TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp", "image/avif", "image/svg+xml", "image/heic"];
  const MAX_BYTES = 10 * 1024 * 1024;

  class UploadError extends Error {
    constructor(message, retryable) { super(message); this.retryable = retryable; }
  }

  function check(file, {accept = TYPES, maxBytes = MAX_BYTES} = {}) {
    if (file.type && !accept.includes(file.type)) {
      throw new UploadError(`${file.name} is not an accepted image type (${file.type})`, false);
    }
    if (file.size > maxBytes) {
      const size = (n) => n.toLocaleString("en");
      throw new UploadError(`${file.name} is too large: ${size(file.size)} bytes, the limit is ${size(maxBytes)}`, false);
    }
  }

  function message(data, status) {
    return (data && data.errors && data.errors[0] && data.errors[0].message) || `the server answered ${status}`;
  }

  async function uploadUrl(endpoint) {
    let response;
    try {
      response = await fetch(endpoint, {method: "POST", credentials: "same-origin", headers: {Accept: "application/json"}});
    } catch {
      throw new UploadError("could not reach the upload service", true);
    }
    let data = null;
    try { data = await response.json(); } catch { data = null; }
    const result = data && (data.result || data);
    if (!response.ok || !result || !result.uploadURL) {
      throw new UploadError(`no upload URL: ${message(data, response.status)}`, response.status >= 500);
    }
    return result.uploadURL;
  }

  function send(url, file, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.responseType = "json";
      xhr.upload.addEventListener("progress", (event) => { if (event.lengthComputable) onProgress(event.loaded / event.total); });
      xhr.addEventListener("load", () => {
        const data = xhr.response;
        if (xhr.status === 200 && data && data.success) resolve(data.result);
        else reject(new UploadError(message(data, xhr.status), xhr.status >= 500));
      });
      xhr.addEventListener("error", () => reject(new UploadError("network error during the upload", true)));
      const form = new FormData();
      form.append("file", file, file.name);
      xhr.send(form);
    });
  }

  /** Upload one file; resolves with the image record ({id, filename, variants, ...}). */
  async function upload(file, {endpoint, retries = 3, onProgress = () => {}, accept, maxBytes} = {}) {
    if (!endpoint) throw new UploadError("no endpoint: where the host application hands out upload URLs", false);
    check(file, {accept, maxBytes});
    for (let attempt = 0; ; attempt += 1) {
      try {
        // a fresh one-time URL per attempt: a failed attempt may have used or spoilt the last one
        return await send(await uploadUrl(endpoint), file, onProgress);
      } catch (error) {
        if (!(error instanceof UploadError) || !error.retryable || attempt >= retries) throw error;
        await new Promise((done) => setTimeout(done, 500 * 2 ** attempt));
      }
    }
  }

  const STYLE = `
    :host { display: block; font: inherit; }
    .zone { border: 2px dashed #9aa3b5; border-radius: 8px; padding: 1rem; text-align: center; }
    .zone.over { border-color: #2b5fd9; background: #eef3ff; }
    label { color: #2b5fd9; text-decoration: underline; cursor: pointer; }
    input { position: absolute; width: 1px; height: 1px; opacity: 0; }
    progress { width: 100%; }
    img { max-width: 100%; max-height: 240px; display: block; margin: .5rem auto 0; }
    .error { color: #b3261e; }
    [hidden] { display: none !important; }`;

  class EnlargerUploadElement extends HTMLElement {
    connectedCallback() {
      if (this.shadowRoot) return;
      const root = this.attachShadow({mode: "open"});
      const style = document.createElement("style");
      style.textContent = STYLE;
      const zone = document.createElement("div");
      zone.className = "zone";
      zone.setAttribute("part", "zone");
      const input = document.createElement("input");
      input.type = "file";
      input.id = "file";
      input.accept = this.accept().join(",");
      const label = document.createElement("label");
      label.htmlFor = "file";
      label.textContent = this.getAttribute("label") || "Choose an image";
      const hint = document.createElement("span");
      hint.textContent = " or drop it here";
      const progress = document.createElement("progress");
      progress.max = 1;
      progress.value = 0;
      progress.hidden = true;
      const status = document.createElement("p");
      status.setAttribute("role", "status");
      status.setAttribute("part", "status");
      const preview = document.createElement("img");
      preview.alt = "";
      preview.hidden = true;
      zone.append(label, hint, input, progress, status, preview);
      root.append(style, zone);
      Object.assign(this, {input, progress, status, preview, zone});
      input.addEventListener("change", () => { if (input.files[0]) this.start(input.files[0]); input.value = ""; });
      zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
      zone.addEventListener("dragleave", () => zone.classList.remove("over"));
      zone.addEventListener("drop", (event) => {
        event.preventDefault();
        zone.classList.remove("over");
        if (event.dataTransfer.files[0]) this.start(event.dataTransfer.files[0]);
      });
    }

    accept() {
      const listed = (this.getAttribute("accept") || "").split(",").map((t) => t.trim()).filter(Boolean);
      return listed.length ? listed : TYPES;
    }

    async start(file) {
      const {progress, status, preview} = this;
      status.className = "";
      status.textContent = `Uploading ${file.name}…`;
      progress.hidden = false;
      progress.value = 0;
      if (preview.src.startsWith("blob:")) URL.revokeObjectURL(preview.src);
      preview.src = URL.createObjectURL(file);
      preview.alt = `Preview of ${file.name}`;
      preview.hidden = false;
      try {
        const record = await upload(file, {
          endpoint: this.getAttribute("endpoint"),
          retries: Number(this.getAttribute("retries") || 3),
          maxBytes: Number(this.getAttribute("max-size") || MAX_BYTES),
          accept: this.accept(),
          onProgress: (fraction) => { progress.value = fraction; },
        });
        progress.value = 1;
        status.textContent = `Uploaded ${file.name}`;
        this.dispatchEvent(new CustomEvent("enlarger-upload", {
          bubbles: true, composed: true,
          detail: {id: record.id, filename: record.filename, variants: record.variants, record},
        }));
      } catch (error) {
        progress.hidden = true;
        status.className = "error";
        status.textContent = error.message;
        this.dispatchEvent(new CustomEvent("enlarger-error", {bubbles: true, composed: true, detail: {message: error.message}}));
      }
    }
  }

  if (!customElements.get("enlarger-upload")) customElements.define("enlarger-upload", EnlargerUploadElement);
  window.EnlargerUpload = {upload, check, UploadError};
})();
