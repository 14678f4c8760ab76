// The dashboard's calls: JSON in the v4 envelope, the session cookie, and the CSRF header on changes.

let csrf = "";

export function setCsrf(value) { csrf = value || ""; }

export class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

function failure(status, data, statusText) {
  const message = data && data.errors && data.errors[0] ? data.errors[0].message : `${status} ${statusText}`;
  if (status === 401) window.dispatchEvent(new CustomEvent("signed-out"));
  return new ApiError(message, status);
}

export async function api(path, {method = "GET", body} = {}) {
  const headers = {Accept: "application/json"};
  if (method !== "GET") headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError("The server could not be reached; check the connection and try again", 0);
  }
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (!response.ok || !data || data.success === false) throw failure(response.status, data, response.statusText);
  return data.result;
}

/** Upload one file with progress (fetch has no upload progress; XHR does). */
export function uploadFile(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/dashboard/api/images/v1");
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      const data = xhr.response;
      if (xhr.status === 200 && data && data.success) resolve(data.result);
      else reject(failure(xhr.status, data, xhr.statusText));
    });
    xhr.addEventListener("error", () => reject(new ApiError("network error: the upload did not reach the server", 0)));
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}
