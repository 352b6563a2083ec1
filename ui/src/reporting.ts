// Reporting: the radiologist's reading list and the report editor. Placeholder until
// issue 10 §4 lands.
import { h } from "./dom";
import { messages } from "./i18n";
import type { Area } from "./routes";

const tr = messages(
  { "rp.nav": "Reading list", "rp.title": "Reading list", "rp.todo": "Not built yet." },
  { "rp.nav": "読影リスト", "rp.title": "読影リスト", "rp.todo": "未実装です。" },
);

export const reportingArea: Area = {
  nav: { href: "#/reading", label: () => tr("rp.nav"), permission: "report.read" },
  routes: [
    {
      pattern: /^#\/(?:reading|reports)(?:\/.*)?$/,
      render(main) {
        main.replaceChildren(h("h1", {}, tr("rp.title")), h("p", {}, tr("rp.todo")));
      },
    },
  ],
};
