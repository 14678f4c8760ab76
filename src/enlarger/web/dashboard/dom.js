// Building DOM safely: every value becomes a text node or an attribute, never markup.

/** h("a", {href: "#/x", onclick: fn}, "text", child) → element. Strings are always text. */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      element.className = value;
    } else if (name === "value" || name === "checked" || name === "disabled" || name === "selected") {
      element[name] = value;
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

export function append(element, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** The same for SVG elements (charts). */
export function s(tag, attrs = {}, ...children) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

let statusTimer = 0;

/** A short message in the live region (screen readers announce it). */
export function say(message, kind = "info") {
  const status = document.getElementById("status");
  status.className = kind;
  status.textContent = message;
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => { status.textContent = ""; status.className = ""; }, 6000);
}

/** A label + control pair. */
export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2)}`;
  control.id = id;
  return h("div", {class: "field"}, h("label", {for: id}, label), control, hint ? h("small", {}, hint) : null);
}

/** Ask before something that cannot be undone; resolves true when confirmed. */
export function confirmDialog(question, action = "Delete") {
  return new Promise((resolve) => {
    const dialog = h("dialog", {class: "card", "aria-label": "Confirm"},
      h("p", {}, question),
      h("div", {class: "row"},
        h("button", {type: "button", class: "danger", onclick: () => finish(true)}, action),
        h("button", {type: "button", class: "quiet", onclick: () => finish(false)}, "Cancel")));
    function finish(answer) { dialog.close(); dialog.remove(); resolve(answer); }
    dialog.addEventListener("cancel", () => finish(false));
    document.body.append(dialog);
    dialog.showModal();
  });
}

export async function copy(text, what = "URL") {
  try {
    await navigator.clipboard.writeText(text);
    say(`${what} copied`);
  } catch {
    say(`Could not copy the ${what}; select it and copy by hand`, "error");
  }
}

export function bytes(n) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = n, unit = 0;
  while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit += 1; }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

/** Path segments of an image id, each encoded (ids may contain "/"). */
export function idPath(id) {
  return id.split("/").map(encodeURIComponent).join("/");
}
