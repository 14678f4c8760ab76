// Variants: list, create, edit with a live preview on a chosen image, delete.
import {api} from "../api.js";
import {confirmDialog, field, h, say} from "../dom.js";

const FITS = ["scale-down", "contain", "cover", "crop", "pad"];
const METADATA = ["none", "copyright", "keep"];

function summary(options) {
  return Object.entries(options).map(([k, v]) => `${k}=${v}`).join(", ");
}

export async function variantsPage() {
  const [list, images] = await Promise.all([
    api("/dashboard/api/images/v1/variants"),
    api("/dashboard/api/search?per_page=20"),
  ]);
  const rows = h("tbody");
  const id = h("input", {type: "text", pattern: "[A-Za-z0-9]{1,99}", required: true});
  const fit = h("select", {}, FITS.map((f) => h("option", {value: f}, f)));
  const width = h("input", {type: "number", min: "1", max: "12000"});
  const height = h("input", {type: "number", min: "1", max: "12000"});
  const metadata = h("select", {}, METADATA.map((m) => h("option", {value: m}, m)));
  const never = h("input", {type: "checkbox"});
  const title = h("h2", {}, "New variant");
  const error = h("p", {class: "error", role: "alert"});
  const save = h("button", {type: "submit"}, "Create variant");
  const cancel = h("button", {type: "button", class: "quiet", hidden: true}, "Cancel");
  let editing = null;

  const pick = h("select", {}, images.images.map((i) => h("option", {value: i.id}, i.id)));
  const preview = h("img", {alt: "Preview of the variant", class: "preview", hidden: true});
  const previewNote = h("p", {class: "muted small"}, images.images.length ? "" : "Upload an image to see previews.");

  function options() {
    const result = {fit: fit.value, metadata: metadata.value};
    if (width.value) result.width = Number(width.value);
    if (height.value) result.height = Number(height.value);
    return result;
  }

  let timer = 0;
  function refresh() {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const valid = [width, height].every((input) => input.checkValidity());
      if (!pick.value || !valid) { preview.hidden = true; return; }
      const text = Object.entries(options()).map(([k, v]) => `${k}=${v}`).join(",");
      preview.src = `/dashboard/api/preview?id=${encodeURIComponent(pick.value)}&options=${encodeURIComponent(text)}`;
      preview.hidden = false;
      previewNote.textContent = text;
    }, 200);
  }
  for (const control of [fit, width, height, metadata, pick]) control.addEventListener("input", refresh);

  function edit(variant) {
    editing = variant ? variant.id : null;
    id.value = variant ? variant.id : "";
    id.disabled = Boolean(variant);
    fit.value = variant?.options.fit || "scale-down";
    width.value = variant?.options.width ?? "";
    height.value = variant?.options.height ?? "";
    metadata.value = variant?.options.metadata || "none";
    never.checked = Boolean(variant?.neverRequireSignedURLs);
    title.textContent = variant ? `Edit ${variant.id}` : "New variant";
    save.textContent = variant ? "Save variant" : "Create variant";
    cancel.hidden = !variant;
    error.textContent = "";
    refresh();
    if (variant) fit.focus();
  }

  function render(variants) {
    rows.replaceChildren(...Object.values(variants).map((variant) => h("tr", {},
      h("th", {scope: "row"}, variant.id),
      h("td", {}, summary(variant.options)),
      h("td", {}, variant.neverRequireSignedURLs ? "never signed" : ""),
      h("td", {class: "actions"},
        h("button", {type: "button", class: "quiet", onclick: () => edit(variant), "aria-label": `Edit ${variant.id}`}, "Edit"),
        variant.id === "public" ? null : h("button", {type: "button", class: "quiet danger", onclick: () => removeVariant(variant.id), "aria-label": `Delete ${variant.id}`}, "Delete")))));
  }

  async function reload() { render((await api("/dashboard/api/images/v1/variants")).variants); }

  async function removeVariant(name) {
    if (!(await confirmDialog(`Delete the variant ${name}? URLs using it stop working.`))) return;
    try { await api(`/dashboard/api/images/v1/variants/${encodeURIComponent(name)}`, {method: "DELETE"}); say(`Deleted ${name}`); await reload(); }
    catch (failure) { say(failure.message, "error"); }
  }

  const form = h("form", {class: "card"},
    title,
    field("Name (letters and digits)", id),
    h("div", {class: "row wrap"}, field("Fit", fit), field("Width", width), field("Height", height), field("Metadata", metadata)),
    h("label", {class: "check"}, never, " Never require signed URLs"),
    error,
    h("div", {class: "row"}, save, cancel));
  cancel.addEventListener("click", () => edit(null));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const body = {options: options(), neverRequireSignedURLs: never.checked};
    try {
      if (editing) await api(`/dashboard/api/images/v1/variants/${encodeURIComponent(editing)}`, {method: "PATCH", body});
      else await api("/dashboard/api/images/v1/variants", {method: "POST", body: {id: id.value, ...body}});
      say(`Saved ${editing || id.value}`);
      edit(null);
      await reload();
    } catch (failure) { error.textContent = failure.message; }
  });

  render(list.variants);
  refresh();
  return h("section", {"aria-labelledby": "variants-title"},
    h("h1", {id: "variants-title"}, "Variants"),
    h("div", {class: "table-wrap"}, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {scope: "col"}, "Name"), h("th", {scope: "col"}, "Options"), h("th", {scope: "col"}, "Signing"), h("th", {scope: "col"}, h("span", {class: "visually-hidden"}, "Actions")))),
      rows)),
    h("div", {class: "columns"},
      form,
      h("div", {class: "card"}, h("h2", {}, "Live preview"), field("Image", pick), preview, previewNote)));
}
