// URLs that third-party image components write for Cloudflare, from their own code (installed from
// npm by .ci/run into tests/.clients): Nuxt Image's cloudflare and cloudflareImages providers,
// unpic's cloudflare and cloudflare_images providers, and Next.js getImageProps with the Cloudflare
// loaders of Next's and OpenNext's docs. Prints {case: url} as JSON; the Python test fetches each
// URL from Enlarger and checks the image. Usage: node urls.mjs <base> <account_hash> <image_id>
import nuxtCloudflare from "./node_modules/@nuxt/image/dist/runtime/providers/cloudflare.js";
import nuxtCloudflareImages from "./node_modules/@nuxt/image/dist/runtime/providers/cloudflareimages.js";
import { generate as unpicCloudflare } from "./node_modules/unpic/esm/src/providers/cloudflare.js";
import { generate as unpicCloudflareImages } from "./node_modules/unpic/esm/src/providers/cloudflare_images.js";
import nextImage from "./node_modules/next/dist/shared/lib/image-external.js";

const [base, accountHash, imageId] = process.argv.slice(2);
const { getImageProps } = nextImage;
const out = {};

// Nuxt Image: <NuxtImg provider="cloudflare" src="/photo.jpg" width=... />
const nuxt = nuxtCloudflare().getImage;
const nuxtCases = {
  "nuxt-width": [{ width: 300 }, 300, null],
  "nuxt-cover-webp": [{ width: 200, height: 100, fit: "cover", format: "webp", quality: 80 }, 200, 100],
  "nuxt-fill-scale-down": [{ width: 100, height: 100, fit: "fill" }, 100, 75],
  "nuxt-inside-pad": [{ width: 100, height: 100, fit: "inside", background: "red" }, 100, 100],
  "nuxt-gravity-auto-dpr": [{ width: 120, height: 120, fit: "cover", gravity: "auto", dpr: 2 }, 240, 240],
  "nuxt-sharpen-avif": [{ width: 160, format: "avif", sharpen: 1 }, 160, null],
};
for (const [name, [modifiers]] of Object.entries(nuxtCases)) {
  out[name] = nuxt("/photo.jpg", { modifiers, baseURL: base }).url;
}
out["nuxt-query-string"] = nuxt("/photo.jpg?v=2", { modifiers: { width: 64 }, baseURL: base }).url;
out["nuxt-nested"] = nuxt("/nested/quad.png", { modifiers: { width: 50, format: "png" }, baseURL: base }).url;

// Nuxt Image: <NuxtImg provider="cloudflareImages" :src="imageId" />
const nuxtHosted = nuxtCloudflareImages().getImage;
out["nuxt-images-variant"] = nuxtHosted(imageId, { modifiers: {}, baseURL: base + "/", accountHash }).url;
out["nuxt-images-flexible"] = nuxtHosted(imageId, {
  modifiers: { width: 120, height: 90, fit: "cover", format: "webp" },
  baseURL: base + "/",
  accountHash,
}).url;

// unpic (and every framework component built on @unpic/core)
out["unpic-cloudflare"] = base + unpicCloudflare("/photo.jpg", { width: 320, height: 240 });
out["unpic-cloudflare-format"] = base + unpicCloudflare("photo.jpg", { width: 200, format: "png" });
const host = new URL(base).host;
out["unpic-images"] = unpicCloudflareImages("", { width: 150, height: 150 }, { host, accountHash, imageId })
  .replace(/^https:\/\/[^/]+/, base); // the client writes https://host: our test server speaks http

// Next.js: getImageProps with a custom loader (next.config images.loader = "custom")
const normalizeSrc = (src) => (src.startsWith("/") ? src.slice(1) : src);
// https://nextjs.org/docs/app/api-reference/config/next-config-js/images#cloudflare
const nextDocsLoader = ({ src, width, quality }) => {
  const params = [`width=${width}`];
  if (quality) params.push(`quality=${quality}`);
  return `${base}/cdn-cgi/image/${params.join(",")}/${normalizeSrc(src)}`;
};
// https://opennext.js.org/cloudflare/howtos/image
const openNextLoader = ({ src, width, quality }) => {
  const params = [`width=${width}`, `quality=${quality || 75}`, "format=auto"];
  return `${base}/cdn-cgi/image/${params.join(",")}/${normalizeSrc(src)}`;
};
for (const [name, loader] of [["next-docs", nextDocsLoader], ["opennext", openNextLoader]]) {
  for (const src of ["/photo.jpg", "/photo.jpg?v=2"]) {
    const { props } = getImageProps({ src, width: 320, height: 240, alt: "", loader, sizes: "50vw" });
    const suffix = src.includes("?") ? "-query" : "";
    out[`${name}${suffix}-src`] = props.src;
    props.srcSet.split(", ").forEach((entry, index) => {
      out[`${name}${suffix}-srcset-${index}`] = entry.split(" ")[0];
    });
  }
}
console.log(JSON.stringify(out));
