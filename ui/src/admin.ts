// Administration: users and roles, 2FA enrolment, remote AEs, HL7 endpoints, storage and
// queues, audit search, system health. Placeholder until issue 10 §5 lands.
import { h } from "./dom";
import { messages } from "./i18n";
import type { Area } from "./routes";

const tr = messages(
  { "ad.nav": "Administration", "ad.title": "Administration", "ad.todo": "Not built yet." },
  { "ad.nav": "管理", "ad.title": "管理", "ad.todo": "未実装です。" },
);

export const adminArea: Area = {
  nav: { href: "#/admin", label: () => tr("ad.nav"), permission: "auth.self" },
  routes: [
    {
      pattern: /^#\/admin(?:\/.*)?$/,
      render(main) {
        main.replaceChildren(h("h1", {}, tr("ad.title")), h("p", {}, tr("ad.todo")));
      },
    },
  ],
};
