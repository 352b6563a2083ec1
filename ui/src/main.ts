// raddx web application shell: who is logged in, the language switch, hash routes.
import "./style.css";
import { api, setUnauthenticatedHandler, type WhoAmI } from "./api";
import { h } from "./dom";
import { lang, setLang, t, translate, type Lang } from "./i18n";
import { renderLogin } from "./login";
import { renderStudies } from "./studies";
import { renderStudy } from "./study";

const main = document.querySelector<HTMLElement>("#main")!;
const nav = document.querySelector<HTMLElement>("#nav")!;
const who = document.querySelector<HTMLElement>("#who")!;
const logout = document.querySelector<HTMLButtonElement>("#logout")!;
const langSelect = document.querySelector<HTMLSelectElement>("#lang")!;

let principal: WhoAmI | null = null;

function renderChrome(): void {
  document.documentElement.lang = lang();
  langSelect.value = lang();
  translate();
  who.textContent = principal ? `${principal.name} (${principal.role})` : "";
  logout.hidden = principal === null;
  nav.replaceChildren(
    ...(principal ? [h("a", { href: "#/studies", "aria-current": "page" }, t("nav.studies"))] : []),
  );
}

let viewer: typeof import("./viewer") | null = null;

function route(): void {
  viewer?.closeViewer();
  renderChrome();
  if (principal === null) {
    renderLogin(main, (p) => {
      principal = p;
      // Back to where the user was (a link opened, or a session that expired), else the list.
      if (!location.hash.startsWith("#/studies")) location.hash = "#/studies";
      else route();
    });
    return;
  }
  const view = /^#\/viewer\/([^/]+)\/([^/]+)$/.exec(location.hash);
  if (view) {
    // The viewer (Cornerstone3D, ~1.7 MB) loads only when an image is opened.
    const [study, series] = [decodeURIComponent(view[1]), decodeURIComponent(view[2])];
    void import("./viewer").then((m) => {
      viewer = m;
      return m.renderViewer(main, study, series);
    });
    return;
  }
  const study = /^#\/studies\/([^/]+)$/.exec(location.hash);
  if (study) void renderStudy(main, decodeURIComponent(study[1]));
  else renderStudies(main);
}

setUnauthenticatedHandler(() => {
  principal = null;
  route();
});

langSelect.addEventListener("change", () => {
  setLang(langSelect.value as Lang);
  route();
});

logout.addEventListener("click", async () => {
  try {
    await api.logout();
  } finally {
    principal = null;
    route();
  }
});

window.addEventListener("hashchange", route);

async function start(): Promise<void> {
  setLang(lang());
  try {
    const me = await api.whoami();
    principal = me.mfa_enrolment_required ? null : me;
  } catch {
    principal = null;
  }
  route();
}

void start();
