// Usage: stored, delivered and unique transformations over the last 30 days, and the quota.
import {api} from "../api.js";
import {chart} from "../chart.js";
import {bytes, h} from "../dom.js";

export async function usagePage() {
  const {summary, days} = await api("/dashboard/api/usage?days=30");
  const t = summary.transformations;
  const stat = (label, value) => h("div", {class: "stat card"}, h("span", {class: "muted small"}, label), h("strong", {}, value));
  const series = (name) => days.map((d) => ({day: d.day, value: d[name]}));
  return h("section", {"aria-labelledby": "usage-title"},
    h("h1", {id: "usage-title"}, "Usage"),
    h("div", {class: "stats"},
      stat("Images stored", `${summary.stored.images} (${bytes(summary.stored.bytes)})`),
      stat("Delivered today", `${summary.delivered_today.images} (${bytes(summary.delivered_today.bytes)})`),
      stat(`Unique transformations (${t.window_days} days)`, t.allowed ? `${t.unique_30d} of ${t.allowed}` : `${t.unique_30d}`)),
    h("div", {class: "card"}, h("h2", {}, "Images stored"), chart("Images stored per day", series("stored_images"))),
    h("div", {class: "card"}, h("h2", {}, "Images delivered"), chart("Images delivered per day", series("delivered_images"), {kind: "bar"})),
    h("div", {class: "card"}, h("h2", {}, "Unique transformations"),
      chart("Unique transformations in the 30-day window", series("unique_30d"), {limit: t.allowed}),
      h("p", {class: "muted small"}, "The 30-day figure at the end of each day with transformations; gaps are days without any.")));
}
