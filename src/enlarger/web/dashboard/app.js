// Entry point: the session, the header, and a hash router over the pages.
import {api, setCsrf} from "./api.js";
import {h, say} from "./dom.js";
import {accountPage} from "./pages/account.js";
import {imagePage} from "./pages/image.js";
import {imagesPage} from "./pages/images.js";
import {keysPage} from "./pages/keys.js";
import {usagePage} from "./pages/usage.js";
import {variantsPage} from "./pages/variants.js";

const state = {account: null};
const routes = [
  [/^#\/images$/, () => imagesPage(state)],
  [/^#\/image\/(.+)$/, (m) => imagePage(state, decodeURIComponent(m[1]))],
  [/^#\/variants$/, () => variantsPage(state)],
  [/^#\/keys$/, () => keysPage(state)],
  [/^#\/account$/, () => accountPage(state)],
  [/^#\/usage$/, () => usagePage(state)],
];

function showSignIn() {
  state.account = null;
  document.querySelector("header.top").hidden = true;
  document.getElementById("page").replaceChildren();
  const form = document.getElementById("sign-in");
  form.hidden = false;
  document.getElementById("token").focus();
}

function showApp(account) {
  state.account = account;
  document.getElementById("sign-in").hidden = true;
  document.querySelector("header.top").hidden = false;
  document.getElementById("who").textContent = account.name || account.id;
  route();
}

async function route() {
  if (!state.account) return;
  const hash = location.hash || "#/images";
  for (const link of document.querySelectorAll("nav a")) {
    if (hash.startsWith(link.getAttribute("href").replace(/s$/, ""))) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const page = document.getElementById("page");
  for (const [pattern, render] of routes) {
    const match = hash.match(pattern);
    if (match) {
      page.replaceChildren(h("p", {class: "muted"}, "Loading…"));
      try {
        page.replaceChildren(await render(match));
      } catch (error) {
        page.replaceChildren(h("p", {class: "error", role: "alert"}, error.message));
      }
      return;
    }
  }
  location.hash = "#/images";
}

document.getElementById("sign-in").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = document.getElementById("token");
  const error = document.getElementById("sign-in-error");
  error.textContent = "";
  try {
    const session = await api("/dashboard/session", {method: "POST", body: {token: input.value}});
    input.value = "";
    setCsrf(session.csrf);
    showApp(session.account);
  } catch (failure) {
    error.textContent = failure.message;
  }
});

document.getElementById("sign-out").addEventListener("click", async () => {
  try { await api("/dashboard/session", {method: "DELETE"}); } catch { /* signed out either way */ }
  setCsrf("");
  showSignIn();
});

window.addEventListener("signed-out", () => { say("Your session has ended; sign in again", "error"); showSignIn(); });
window.addEventListener("hashchange", route);

(async () => {
  try {
    const session = await api("/dashboard/session");
    if (session.account) { setCsrf(session.csrf); showApp(session.account); } else showSignIn();
  } catch (error) {
    showSignIn();
    document.getElementById("sign-in-error").textContent = error.message;
  }
})();
