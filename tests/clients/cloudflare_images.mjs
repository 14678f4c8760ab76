// Cloudflare's @cloudflare/images library, unchanged, over Enlarger's binding backend: its `binding`
// is anything with fetch(path, init); here it posts to Enlarger's POST /transform.
// Usage: node cloudflare_images.mjs <binding_base_url> <png file>; prints the info and pixels.
import { readFileSync } from "node:fs";
import { Image } from "./node_modules/@cloudflare/images/dist/index.js";

const [base, pngPath] = process.argv.slice(2);
const binding = { fetch: (path, init) => fetch(new URL(path, base), init) };
const bytes = readFileSync(pngPath);
const out = {};
for (const kind of ["rgb", "rgba", "jpeg"]) {
  const image = new Image(binding, bytes);
  await image.resize(10, 5, { fit: "cover" });
  const result = await image[kind]();
  const data = result[kind];
  out[kind] = { info: result.info, length: data.length, head: Array.from(data.slice(0, 8)) };
}
console.log(JSON.stringify(out));
