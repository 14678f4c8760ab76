// A Worker whose env.IMAGES is workerd's own images binding, its fetcher pointed at Enlarger.
// Each path runs one binding call chain on the POSTed image and answers with the result, so the
// Python tests can decode it. Errors come back as JSON {code, message} with status 500.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const format = url.searchParams.get("format") || "image/png";
    try {
      const form = await request.formData();
      const image = form.get("image");
      const overlay = form.get("overlay");
      const stream = () => image.stream();
      switch (url.pathname) {
        case "/info":
          return Response.json(await env.IMAGES.info(stream()));
        case "/chain": {
          // trim the top-left quarter, then rotate it, then shrink it: each applies to the previous result
          const result = await env.IMAGES.input(stream())
            .transform({ trim: { top: 0, left: 0, width: 100, height: 50 } })
            .transform({ rotate: 90 })
            .transform({ width: 25 })
            .output({ format });
          return result.response();
        }
        case "/cover": {
          const result = await env.IMAGES.input(stream())
            .transform({ width: 50, height: 50, fit: "cover" })
            .output({ format });
          return result.response();
        }
        case "/draw": {
          const result = await env.IMAGES.input(stream())
            .draw(env.IMAGES.input(overlay.stream()).transform({ rotate: 180 }), {
              bottom: 10, right: 10, opacity: 0.5,
            })
            .draw(env.IMAGES.text("IIII", { size: 40, color: "#00ff00" }), { top: 0, left: 0 })
            .output({ format, quality: 90 });
          return result.response();
        }
        case "/tile": {
          const result = await env.IMAGES.input(stream())
            .draw(overlay.stream(), { top: 0, left: 0, repeat: true })
            .output({ format: "image/png" });
          return result.response();
        }
        case "/text": {
          const result = await env.IMAGES.text("Hello", { size: 30, color: "white" })
            .output({ format: "image/png" });
          return result.response();
        }
        case "/both-sides":
          await env.IMAGES.input(stream()).draw(overlay.stream(), { left: 1, right: 1 }).output({ format });
          return new Response("unreachable");
        case "/consumed": {
          const child = env.IMAGES.input(overlay.stream());
          const base = env.IMAGES.input(stream()).draw(child);
          base.draw(child);
          return new Response("unreachable");
        }
        case "/no-format":
          await env.IMAGES.input(stream()).output({});
          return new Response("unreachable");
        default:
          return new Response("no such test", { status: 404 });
      }
    } catch (error) {
      return Response.json({ code: error.code ?? null, message: String(error.message) }, { status: 500 });
    }
  },
};
