// Small SVG charts drawn here (no library): bars or a line over days, with an optional limit line.
import {s} from "./dom.js";

const W = 640, H = 200, PAD = {left: 48, right: 12, top: 12, bottom: 28};

function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

/** points: [{day, value|null}], kind: "bar" | "line"; limit: a horizontal line (quota) or null. */
export function chart(title, points, {kind = "line", limit = null, format = String} = {}) {
  const values = points.map((p) => p.value).filter((v) => v !== null);
  const top = niceMax(Math.max(0, limit || 0, ...values));
  const innerW = W - PAD.left - PAD.right, innerH = H - PAD.top - PAD.bottom;
  const x = (i) => PAD.left + (points.length <= 1 ? innerW / 2 : (i * innerW) / (points.length - 1));
  const y = (v) => PAD.top + innerH - (v / top) * innerH;
  const svg = s("svg", {viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title, class: "chart"}, s("title", {}, title));
  for (const fraction of [0, 0.5, 1]) {
    const value = top * fraction;
    svg.append(s("line", {x1: PAD.left, x2: W - PAD.right, y1: y(value), y2: y(value), class: "grid-line"}),
      s("text", {x: PAD.left - 6, y: y(value) + 4, "text-anchor": "end", class: "axis"}, format(value)));
  }
  if (points.length) {
    svg.append(s("text", {x: PAD.left, y: H - 8, class: "axis"}, points[0].day),
      s("text", {x: W - PAD.right, y: H - 8, "text-anchor": "end", class: "axis"}, points[points.length - 1].day));
  }
  if (kind === "bar") {
    const width = Math.max(2, innerW / Math.max(points.length, 1) - 3);
    points.forEach((p, i) => {
      if (!p.value) return;
      const cx = PAD.left + ((i + 0.5) * innerW) / points.length;
      svg.append(s("rect", {x: cx - width / 2, y: y(p.value), width, height: y(0) - y(p.value), class: "bar"},
        s("title", {}, `${p.day}: ${format(p.value)}`)));
    });
  } else {
    let path = "";
    let pen = false;
    points.forEach((p, i) => {
      if (p.value === null) { pen = false; return; }  // unknown: a gap, not a guess
      path += `${pen ? "L" : "M"}${x(i).toFixed(1)},${y(p.value).toFixed(1)}`;
      pen = true;
      svg.append(s("circle", {cx: x(i), cy: y(p.value), r: 2.5, class: "dot"}, s("title", {}, `${p.day}: ${format(p.value)}`)));
    });
    svg.prepend(s("path", {d: path, class: "line"}));
  }
  if (limit) {
    svg.append(s("line", {x1: PAD.left, x2: W - PAD.right, y1: y(limit), y2: y(limit), class: "limit"}),
      s("text", {x: W - PAD.right, y: y(limit) - 4, "text-anchor": "end", class: "axis limit-text"}, `quota ${format(limit)}`));
  }
  return svg;
}
