// Account settings and API tokens.
import {api} from "../api.js";
import {confirmDialog, copy, field, h, say} from "../dom.js";

export async function accountPage(state) {
  const account = await api("/dashboard/api/account");
  const flexible = h("input", {type: "checkbox", checked: account.flexible_variants});
  flexible.addEventListener("change", async () => {
    try {
      state.account = await api("/dashboard/api/account", {method: "PATCH", body: {flexible_variants: flexible.checked}});
      say(flexible.checked ? "Flexible variants enabled" : "Flexible variants disabled");
    } catch (error) { flexible.checked = !flexible.checked; say(error.message, "error"); }
  });

  const rows = h("tbody");
  async function reload() {
    const tokens = await api("/dashboard/api/tokens");
    rows.replaceChildren(...tokens.map((token) => h("tr", {},
      h("th", {scope: "row"}, token.name || "(no name)"),
      h("td", {class: "mono small"}, token.id),
      h("td", {}, new Date(token.created).toLocaleDateString()),
      h("td", {}, token.revoked ? "revoked" : "active"),
      h("td", {class: "actions"}, token.revoked ? null : h("button", {type: "button", class: "quiet danger", onclick: () => revoke(token)}, "Revoke")))));
  }
  async function revoke(token) {
    if (!(await confirmDialog(`Revoke the token ${token.name || token.id}? Programs using it lose access (and so does this session, if it is the one you signed in with).`, "Revoke"))) return;
    try { await api(`/dashboard/api/tokens/${encodeURIComponent(token.id)}`, {method: "DELETE"}); say("Token revoked"); await reload(); }
    catch (error) { say(error.message, "error"); }
  }

  const name = h("input", {type: "text", maxlength: "200"});
  const secret = h("input", {type: "text", readonly: true, class: "mono", "aria-label": "New token (shown once)"});
  const shown = h("div", {hidden: true}, h("p", {}, "The new token — shown once, store it now:"), secret,
    h("button", {type: "button", class: "quiet", onclick: () => copy(secret.value, "token")}, "Copy token"));
  const form = h("form", {class: "row wrap"}, field("Token name", name), h("button", {type: "submit"}, "Create token"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const created = await api("/dashboard/api/tokens", {method: "POST", body: {name: name.value}});
      secret.value = created.token;
      shown.hidden = false;
      name.value = "";
      await reload();
    } catch (error) { say(error.message, "error"); }
  });

  await reload();
  return h("section", {"aria-labelledby": "account-title"},
    h("h1", {id: "account-title"}, "Account"),
    h("div", {class: "card"},
      h("dl", {class: "facts"},
        h("dt", {}, "Account id"), h("dd", {class: "mono break"}, account.id),
        h("dt", {}, "Delivery hash"), h("dd", {class: "mono break"}, account.hash),
        h("dt", {}, "Browser TTL"), h("dd", {}, `${account.browser_ttl} s (the account's browser_ttl, else the server's cache_control_max_age; a variant's own overrides it)`)),
      h("label", {class: "check"}, flexible, " Flexible variants (options in delivery URLs, e.g. /w=400,sharpen=1)")),
    h("div", {class: "card"}, h("h2", {}, "API tokens"),
      h("div", {class: "table-wrap"}, h("table", {},
        h("thead", {}, h("tr", {}, h("th", {scope: "col"}, "Name"), h("th", {scope: "col"}, "Id"), h("th", {scope: "col"}, "Created"), h("th", {scope: "col"}, "Status"), h("th", {scope: "col"}, h("span", {class: "visually-hidden"}, "Actions")))),
        rows)),
      form, shown));
}
