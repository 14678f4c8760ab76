// A minimal image server on sharp, the Node peer in bench/peers.py: the part of Cloudflare's
// transformation URL the benchmark uses, /cdn-cgi/image/width=W,format=F,quality=Q/<path>, with
// <path> read from --origin (a folder, or an http:// URL fetched for every request: a minimal server
// keeps no originals). It resizes to width W (aspect kept, never enlarged, EXIF orientation
// applied, colour converted to sRGB when there is a profile: sharp's defaults), strips metadata
// (sharp's default) and encodes with the encoder settings given on the command line, so they can be
// matched with the other servers'. GET /healthz answers "ok". Run by bench/peers.py with NODE_PATH
// pointing at bench/.peers/sharp/node_modules:
//   node bench/sharp_server.cjs --port 8081 --origin DIR|URL [--jpeg-progressive 1] [--webp-effort 4] [--avif-effort 2]
"use strict";

const fs = require("fs/promises");
const http = require("http");
const path = require("path");
const sharp = require("sharp");

function args(argv) {
  const out = { port: 8081, origin: ".", jpegProgressive: 1, webpEffort: 4, avifEffort: 2 };
  for (let i = 2; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, "").replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    out[name] = name === "origin" ? argv[i + 1] : Number(argv[i + 1]);
  }
  return out;
}

const config = args(process.argv);
const remote = /^https?:\/\//.test(config.origin) ? config.origin.replace(/\/+$/, "") : null;
const origin = remote ? null : path.resolve(config.origin);

function options(text) {
  const parsed = {};
  for (const pair of text.split(",")) {
    const [name, value] = pair.split("=");
    parsed[name] = value;
  }
  return parsed;
}

async function read(source) {
  if (remote) {
    const response = await fetch(`${remote}/${source}`);
    if (!response.ok) throw new Error(`origin answered ${response.status}`);
    return Buffer.from(await response.arrayBuffer());
  }
  const file = path.resolve(origin, decodeURIComponent(source));
  if (!file.startsWith(origin + path.sep)) throw new Error("bad path");
  return fs.readFile(file);
}

async function transform(source, opts) {
  const width = Number(opts.width);
  const quality = Number(opts.quality || 85);
  let pipeline = sharp(await read(source)).rotate().resize({ width, withoutEnlargement: true });
  switch (opts.format) {
    case "webp":
      pipeline = pipeline.webp({ quality, effort: config.webpEffort });
      return ["image/webp", await pipeline.toBuffer()];
    case "avif":
      pipeline = pipeline.avif({ quality, effort: config.avifEffort, bitdepth: 8 });
      return ["image/avif", await pipeline.toBuffer()];
    default:
      pipeline = pipeline.jpeg({ quality, progressive: Boolean(config.jpegProgressive), optimiseCoding: true });
      return ["image/jpeg", await pipeline.toBuffer()];
  }
}

function send(res, status, type, body) {
  res.writeHead(status, { "Content-Type": type, "Content-Length": body.length });
  res.end(body);
}

const server = http.createServer(async (req, res) => {
  if (req.url === "/healthz") {
    send(res, 200, "text/plain", Buffer.from("ok"));
    return;
  }
  const match = /^\/cdn-cgi\/image\/([^/]+)\/(.+)$/.exec(req.url);
  if (!match) {
    send(res, 404, "text/plain", Buffer.from("not found"));
    return;
  }
  try {
    const [type, body] = await transform(match[2], options(match[1]));
    send(res, 200, type, body);
  } catch (error) {
    send(res, 500, "text/plain", Buffer.from(String(error)));
  }
});

server.keepAliveTimeout = 120000;
server.listen(config.port, "127.0.0.1", () => {
  const threads = process.env.UV_THREADPOOL_SIZE || 4;
  console.error(
    `sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips}) on 127.0.0.1:${config.port}: ` +
      `sharp.concurrency ${sharp.concurrency()}, libuv threads ${threads}, ` +
      `jpeg progressive ${config.jpegProgressive}, webp effort ${config.webpEffort}, avif effort ${config.avifEffort}`
  );
});
