// Cloudflare's official JS SDK (npm `cloudflare`), unchanged, against Enlarger: every Images call a
// client makes, with the objects it returns printed as JSON for the Python test to check.
// Usage: node sdk.mjs <base_url> <api_token> <account_id> <jpeg file>
import { readFileSync } from "node:fs";
import Cloudflare, { toFile } from "./node_modules/cloudflare/index.mjs";

const [base, apiToken, accountId, jpegPath] = process.argv.slice(2);
const client = new Cloudflare({ apiToken, baseURL: `${base}/client/v4`, maxRetries: 0 });
const account_id = accountId;
const jpeg = readFileSync(jpegPath);
const out = {};
const image = () => toFile(jpeg, "cat.jpg", { type: "image/jpeg" });

out.created = await client.images.v1.create({ account_id, file: await image(), metadata: { n: "1" } });
out.custom = await client.images.v1.create({ account_id, id: "shop/red shoe.jpg", file: await image() });
out.got = await client.images.v1.get(out.created.id, { account_id });
out.edited = await client.images.v1.edit(out.created.id, { account_id, metadata: { n: "2" }, creator: "ada" });
const page = await client.images.v1.list({ account_id, per_page: 10 });
out.listed = page.result ?? page.getPaginatedItems?.();
out.listedV2 = await client.images.v2.list({ account_id, per_page: 10, sort_order: "asc" });
const blob = await client.images.v1.blobs.get(out.created.id, { account_id });
out.blobLength = (await blob.arrayBuffer()).byteLength;
out.variantCreated = await client.images.v1.variants.create({
  account_id, id: "thumb", options: { fit: "cover", width: 64, height: 48, metadata: "none" },
});
out.variantGot = await client.images.v1.variants.get("thumb", { account_id });
out.variantEdited = await client.images.v1.variants.edit("thumb", {
  account_id, options: { fit: "cover", width: 80, height: 60, metadata: "none" },
});
out.variants = await client.images.v1.variants.list({ account_id });
out.keyUpdated = await client.images.v1.keys.update("extra", { account_id });
out.keys = await client.images.v1.keys.list({ account_id });
out.keyDeleted = await client.images.v1.keys.delete("extra", { account_id });
out.stats = await client.images.v1.stats.get({ account_id });
out.direct = await client.images.v2.directUploads.create({ account_id, metadata: { via: "widget" } });
const form = new FormData();
form.append("file", new Blob([jpeg], { type: "image/jpeg" }), "direct.jpg");
out.directUploadStatus = (await fetch(out.direct.uploadURL, { method: "POST", body: form })).status;
out.directGot = await client.images.v1.get(out.direct.id, { account_id });
out.variantDeleted = await client.images.v1.variants.delete("thumb", { account_id });
out.deleted = await client.images.v1.delete(out.custom.id, { account_id });
try {
  await client.images.v1.get(out.custom.id, { account_id });
  out.missing = null;
} catch (error) {
  out.missing = { status: error.status, errors: error.errors };
}
console.log(JSON.stringify(out));
