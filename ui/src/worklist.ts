// Worklist (RIS): today's scheduled procedures per modality/room, status as MPPS updates it,
// manual order entry. Placeholder until issue 10 §3 lands.
import { h } from "./dom";
import { messages } from "./i18n";
import type { Area } from "./routes";

const tr = messages(
  { "wl.nav": "Worklist", "wl.title": "Worklist", "wl.todo": "Not built yet." },
  { "wl.nav": "ワークリスト", "wl.title": "ワークリスト", "wl.todo": "未実装です。" },
);

export const worklistArea: Area = {
  nav: { href: "#/worklist", label: () => tr("wl.nav"), permission: "orders.read" },
  routes: [
    {
      pattern: /^#\/worklist(?:\/.*)?$/,
      render(main) {
        main.replaceChildren(h("h1", {}, tr("wl.title")), h("p", {}, tr("wl.todo")));
      },
    },
  ],
};
