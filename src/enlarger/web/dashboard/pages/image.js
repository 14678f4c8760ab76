// One image: previews per variant, metadata, signing, delivery URLs, deletion.
import {api} from "../api.js";
import {confirmDialog, copy, field, h, idPath, say} from "../dom.js";

function variantName(url) { return url.slice(url.lastIndexOf("/") + 1); }

export async function imagePage(state, id) {
  const path = `/dashboard/api/images/v1/${idPath(id)}`;
  let image = await api(path);

  const previews = h("ul", {class: "previews", "aria-label": "Variants"},
    image.variants.map((url) => {
      const name = variantName(url);
      const src = `/dashboard/api/preview?id=${encodeURIComponent(id)}&variant=${encodeURIComponent(name)}`;
      return h("li", {class: "card"},
        h("img", {src, alt: `${image.filename || id}, variant ${name}`, loading: "lazy"}),
        h("div", {class: "row"},
          h("strong", {}, name),
          h("button", {type: "button", class: "quiet", onclick: () => copy(url, "delivery URL"), "aria-label": `Copy the ${name} delivery URL`}, "Copy URL")));
    }));

  const metadata = h("textarea", {rows: "6", spellcheck: "false", value: JSON.stringify(image.meta, null, 2)});
  const creator = h("input", {type: "text", value: image.creator || ""});
  const metaError = h("p", {class: "error", role: "alert"});
  const metaForm = h("form", {class: "card"},
    h("h2", {}, "Metadata"),
    field("Metadata (JSON object)", metadata),
    field("Creator", creator),
    metaError,
    h("button", {type: "submit"}, "Save metadata"));
  metaForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    metaError.textContent = "";
    let parsed;
    try {
      parsed = JSON.parse(metadata.value || "{}");
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object");
    } catch {
      metaError.textContent = "Metadata must be a JSON object, e.g. {\"owner\": \"ada\"}";
      return;
    }
    try {
      image = await api(path, {method: "PATCH", body: {metadata: parsed, creator: creator.value || null}});
      say("Metadata saved");
    } catch (error) { metaError.textContent = error.message; }
  });

  const signed = h("input", {type: "checkbox", checked: image.requireSignedURLs});
  signed.addEventListener("change", async () => {
    try {
      image = await api(path, {method: "PATCH", body: {requireSignedURLs: signed.checked}});
      say(signed.checked ? "Signed URLs are now required" : "Signed URLs are no longer required");
    } catch (error) { signed.checked = !signed.checked; say(error.message, "error"); }
  });

  const variant = h("select", {}, image.variants.map((url) => h("option", {value: variantName(url)}, variantName(url))));
  const expires = h("input", {type: "number", min: "0", max: "31536000", step: "1", value: "3600"});
  const output = h("input", {type: "text", readonly: true, class: "mono", "aria-label": "Signed URL"});
  const copyButton = h("button", {type: "button", class: "quiet", disabled: true, onclick: () => copy(output.value, "signed URL")}, "Copy signed URL");
  const signForm = h("form", {class: "card"},
    h("h2", {}, "Signed URL"),
    h("div", {class: "row wrap"}, field("Variant", variant), field("Expires in (seconds, 0 = never)", expires)),
    h("button", {type: "submit"}, "Generate"),
    output, copyButton);
  signForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const result = await api("/dashboard/api/sign", {method: "POST", body: {image_id: id, variant: variant.value, expires_in: Number(expires.value)}});
      output.value = result.url;
      copyButton.disabled = false;
    } catch (error) { say(error.message, "error"); }
  });

  const remove = h("button", {type: "button", class: "danger"}, "Delete image");
  remove.addEventListener("click", async () => {
    if (!(await confirmDialog(`Delete ${id}? Its delivery URLs stop working.`))) return;
    try {
      await api(path, {method: "DELETE"});
      say(`Deleted ${id}`);
      location.hash = "#/images";
    } catch (error) { say(error.message, "error"); }
  });

  return h("section", {"aria-labelledby": "image-title"},
    h("p", {}, h("a", {href: "#/images"}, "← Images")),
    h("h1", {id: "image-title", class: "break"}, id),
    h("dl", {class: "facts"},
      h("dt", {}, "File name"), h("dd", {class: "break"}, image.filename || "—"),
      h("dt", {}, "Uploaded"), h("dd", {}, new Date(image.uploaded).toLocaleString())),
    previews,
    h("div", {class: "columns"},
      metaForm,
      h("div", {},
        h("div", {class: "card"}, h("h2", {}, "Access"),
          h("label", {class: "check"}, signed, " Require signed URLs")),
        signForm,
        h("div", {class: "card"}, h("h2", {}, "Danger zone"), remove))));
}
