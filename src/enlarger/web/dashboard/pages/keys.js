// Signing keys: list (values hidden until asked), rotate, add, delete.
import {api} from "../api.js";
import {confirmDialog, copy, field, h, say} from "../dom.js";

export async function keysPage() {
  const rows = h("tbody");
  const name = h("input", {type: "text", pattern: "[A-Za-z0-9_\\-]{1,20}", required: true});

  function render(keys) {
    rows.replaceChildren(...keys.map((key) => {
      const value = h("code", {class: "mono break"}, "•".repeat(16));
      let shown = false;
      const toggle = h("button", {type: "button", class: "quiet", "aria-label": `Show the value of ${key.name}`}, "Show");
      toggle.addEventListener("click", () => {
        shown = !shown;
        value.textContent = shown ? key.value : "•".repeat(16);
        toggle.textContent = shown ? "Hide" : "Show";
      });
      return h("tr", {},
        h("th", {scope: "row"}, key.name),
        h("td", {}, value),
        h("td", {class: "actions"}, toggle,
          h("button", {type: "button", class: "quiet", onclick: () => copy(key.value, "key")}, "Copy"),
          h("button", {type: "button", class: "quiet", onclick: () => rotate(key.name)}, "Rotate"),
          h("button", {type: "button", class: "quiet danger", onclick: () => remove(key.name)}, "Delete")));
    }));
  }

  async function rotate(keyName) {
    if (!(await confirmDialog(`Give ${keyName} a new value? URLs signed with the old value stop working.`, "Rotate"))) return;
    try { render((await api(`/dashboard/api/images/v1/keys/${encodeURIComponent(keyName)}`, {method: "PUT"})).keys); say(`Rotated ${keyName}`); }
    catch (error) { say(error.message, "error"); }
  }

  async function remove(keyName) {
    if (!(await confirmDialog(`Delete the key ${keyName}?`))) return;
    try { render((await api(`/dashboard/api/images/v1/keys/${encodeURIComponent(keyName)}`, {method: "DELETE"})).keys); say(`Deleted ${keyName}`); }
    catch (error) { say(error.message, "error"); }
  }

  const form = h("form", {class: "card row wrap"}, field("New key name", name), h("button", {type: "submit"}, "Add key"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try { render((await api(`/dashboard/api/images/v1/keys/${encodeURIComponent(name.value)}`, {method: "PUT"})).keys); say(`Added ${name.value}`); name.value = ""; }
    catch (error) { say(error.message, "error"); }
  });

  render((await api("/dashboard/api/images/v1/keys")).keys);
  return h("section", {"aria-labelledby": "keys-title"},
    h("h1", {id: "keys-title"}, "Signing keys"),
    h("p", {class: "muted"}, "Signed URLs are checked against every key: add a new key, move signers to it, then delete the old one."),
    h("div", {class: "table-wrap"}, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {scope: "col"}, "Name"), h("th", {scope: "col"}, "Value"), h("th", {scope: "col"}, h("span", {class: "visually-hidden"}, "Actions")))),
      rows)),
    form);
}
