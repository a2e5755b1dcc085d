// The dashboard's entry point: login, the hash router between views, and the page-wide error banner.

import { Session } from "./api.js";
import { clearError, el, showError } from "./ui.js";
import { mountAgentDetail, mountAgentList } from "./views/agents.js";
import { mountCoalitions } from "./views/coalitions.js";
import { mountCreate } from "./views/create.js";
import { mountSystem } from "./views/system.js";
import { mountWorld } from "./world.js";

const ROUTES = [
  { pattern: /^\/world$/, mount: mountWorld, nav: "world" },
  { pattern: /^\/agents$/, mount: mountAgentList, nav: "agents" },
  { pattern: /^\/agents\/(?<id>[0-9a-f-]{36})$/, mount: mountAgentDetail, nav: "agents" },
  { pattern: /^\/coalitions$/, mount: mountCoalitions, nav: "coalitions" },
  { pattern: /^\/create$/, mount: mountCreate, nav: "create" },
  { pattern: /^\/system$/, mount: mountSystem, nav: "system" },
];

const session = new Session();
const main = document.getElementById("main");
const view = document.getElementById("view");
const loginSection = document.getElementById("login");
const loginForm = document.getElementById("login-form");
const loginError = document.getElementById("login-error");
const userBox = document.getElementById("user");
const nav = document.getElementById("nav");
let unmount = null;

window.freeagenticsDashboard = window.freeagenticsDashboard || {};
window.freeagenticsDashboard.session = session;

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/world";
  const [path, query = ""] = raw.split("?");
  return { path, query: Object.fromEntries(new URLSearchParams(query)) };
}

function route() {
  if (unmount) {
    unmount();
    unmount = null;
  }
  if (!session.loggedIn) return;
  const { path, query } = parseHash();
  const match = ROUTES.map((r) => ({ r, m: r.pattern.exec(path) })).find((x) => x.m);
  for (const link of nav.querySelectorAll("a")) {
    if (match && link.dataset.nav === match.r.nav) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  view.replaceChildren();
  for (const key of Object.keys(view.dataset)) delete view.dataset[key];
  if (!match) {
    view.append(el("h1", {}, "Not found"), el("p", {}, "No such page. "), el("a", { href: "#/world" }, "Go to the world"));
    return;
  }
  const ctx = { session, params: { ...query, ...(match.m.groups || {}) }, navigate: (to) => (location.hash = to) };
  unmount = match.r.mount(view, ctx) || null;
  const heading = view.querySelector("h1");
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
  document.title = `${heading ? heading.textContent : "FreeAgentics"} · FreeAgentics`;
}

function showSignedIn() {
  loginSection.hidden = true;
  main.hidden = false;
  nav.hidden = false;
  userBox.replaceChildren(
    el("span", { id: "whoami" }, `${session.user.username} (${session.user.role})`),
    el("button", { type: "button", id: "logout", onclick: logout }, "Log out"),
  );
  for (const link of nav.querySelectorAll("[data-needs]")) link.hidden = !session.can(link.dataset.needs);
  route();
}

function showLogin(message) {
  if (unmount) {
    unmount();
    unmount = null;
  }
  view.replaceChildren();
  for (const key of Object.keys(view.dataset)) delete view.dataset[key];
  main.hidden = true;
  nav.hidden = true;
  loginSection.hidden = false;
  userBox.replaceChildren();
  if (message) showError(new Error(message), loginError);
  document.getElementById("username").focus();
}

async function logout() {
  try {
    await session.logout();
  } catch (error) {
    // The tokens are forgotten here either way; say that the server did not confirm the logout.
    showError(error, loginError);
  }
}

session.onChange((reason) => {
  if (reason === "login") showSignedIn();
  else if (reason === "logout") showLogin();
  else if (reason === "expired") showLogin("Your session ended; sign in again.");
  else if (reason === "refresh") userBox.dataset.refreshedAt = String(Date.now());
});
session.onRefreshError = (error) => showError(error);

loginForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearError(loginError);
  const button = loginForm.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    await session.login(loginForm.username.value, loginForm.password.value);
    loginForm.password.value = "";
  } catch (error) {
    showError(error, loginError);
  } finally {
    button.disabled = false;
  }
});

window.addEventListener("hashchange", route);
// A last resort so no failure goes unseen: anything a view did not catch lands in the page banner.
window.addEventListener("unhandledrejection", (event) => showError(event.reason));
window.addEventListener("error", (event) => showError(event.error || new Error(event.message)));

session
  .resume()
  .then((resumed) => {
    if (!resumed) showLogin();
  })
  .catch(() => showLogin("Your previous session has ended; sign in again."));
