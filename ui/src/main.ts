// raddx web application shell: who is logged in, the language switch, the navigation and
// hash routing to the areas (each area: routes.ts).
import "./style.css";
import { adminArea } from "./admin";
import { api, setUnauthenticatedHandler, type WhoAmI } from "./api";
import { archiveArea } from "./archive_area";
import { h } from "./dom";
import { lang, setLang, translate, type Lang } from "./i18n";
import { renderLogin, renderMfaEnrolment } from "./login";
import { reportingArea } from "./reporting";
import type { Area } from "./routes";
import { worklistArea } from "./worklist";

/** In navigation order; the first area's first nav entry is the home page. */
const AREAS: Area[] = [archiveArea, worklistArea, reportingArea, adminArea];
const HOME = "#/studies";

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
  const items = principal
    ? AREAS.flatMap((area) => (area.nav ? [area.nav] : [])).filter((item) =>
        principal!.permissions.includes(item.permission),
      )
    : [];
  nav.replaceChildren(
    ...items.map((item) =>
      h(
        "a",
        {
          href: item.href,
          "aria-current": location.hash.startsWith(item.href) ? "page" : null,
        },
        item.label(),
      ),
    ),
  );
}

function route(): void {
  for (const area of AREAS) area.leave?.();
  renderChrome();
  if (principal === null) {
    renderLogin(main, (p) => {
      principal = p;
      // Back to where the user was (a link opened, or a session that expired), else home.
      if (!location.hash || location.hash === "#/" || location.hash === "#") location.hash = HOME;
      else route();
    });
    return;
  }
  for (const area of AREAS) {
    for (const r of area.routes) {
      const match = r.pattern.exec(location.hash);
      if (match) {
        void r.render(main, match, principal);
        return;
      }
    }
  }
  location.hash = HOME;
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
    if (me.mfa_enrolment_required) {
      // A session that must still enrol 2FA (reloaded mid-enrolment): back to the enrolment.
      renderMfaEnrolment(main, (p) => {
        principal = p;
        route();
      });
      return;
    }
    principal = me;
  } catch {
    principal = null;
  }
  route();
}

void start();
