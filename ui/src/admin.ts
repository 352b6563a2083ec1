// Administration (issue 10 §5): users and roles, my account (2FA enrolment, password), remote
// AEs with C-ECHO, HL7 endpoints and outbox, storage/queues/system health, audit log search.
// The index lists the pages the role may open; a page opened directly without the permission
// is refused by the API (403, audited) and says so.
import { renderAccount } from "./admin_account";
import { renderAudit } from "./admin_audit";
import { renderHl7 } from "./admin_hl7";
import { renderRemoteAes } from "./admin_remote";
import { tr, type AdminKey } from "./admin_strings";
import { renderSystem } from "./admin_system";
import { page } from "./admin_ui";
import { renderUsers } from "./admin_users";
import type { WhoAmI } from "./api";
import { h } from "./dom";
import type { Area } from "./routes";

interface AdminPage {
  path: string;
  title: AdminKey;
  about: AdminKey;
  /** Listed for a principal holding any of these. */
  permissions: string[];
}

const PAGES: AdminPage[] = [
  { path: "account", title: "account.title", about: "account.about", permissions: ["auth.self"] },
  { path: "users", title: "users.title", about: "users.about", permissions: ["admin.users"] },
  { path: "remote-aes", title: "ae.title", about: "ae.about", permissions: ["remote_aes.read"] },
  { path: "hl7", title: "hl7.title", about: "hl7.about", permissions: ["hl7.read"] },
  {
    path: "system",
    title: "sys.title",
    about: "sys.about",
    permissions: ["system.read", "archive.statistics", "jobs.read"],
  },
  { path: "audit", title: "audit.title", about: "audit.about", permissions: ["audit.read"] },
];

function renderIndex(main: HTMLElement, who: WhoAmI): void {
  const body = page(main, tr("title"), false);
  const visible = PAGES.filter((p) => p.permissions.some((x) => who.permissions.includes(x)));
  body.append(
    h(
      "ul",
      { class: "admin-index" },
      ...visible.map((p) =>
        h(
          "li",
          {},
          h("a", { href: `#/admin/${p.path}` }, tr(p.title)),
          h("span", { class: "about" }, tr(p.about)),
        ),
      ),
    ),
  );
}

export const adminArea: Area = {
  nav: { href: "#/admin", label: () => tr("nav"), permission: "auth.self" },
  routes: [
    { pattern: /^#\/admin\/users\/?$/, render: (main) => renderUsers(main) },
    { pattern: /^#\/admin\/account\/?$/, render: (main) => renderAccount(main) },
    { pattern: /^#\/admin\/2fa\/?$/, render: (main) => renderAccount(main) },
    { pattern: /^#\/admin\/remote-aes\/?$/, render: (main, _m, who) => renderRemoteAes(main, who) },
    { pattern: /^#\/admin\/hl7\/?$/, render: (main, _m, who) => renderHl7(main, who) },
    { pattern: /^#\/admin\/system\/?$/, render: (main, _m, who) => renderSystem(main, who) },
    { pattern: /^#\/admin\/audit\/?$/, render: (main) => renderAudit(main) },
    { pattern: /^#\/admin(?:\/.*)?$/, render: (main, _m, who) => renderIndex(main, who) },
  ],
};
