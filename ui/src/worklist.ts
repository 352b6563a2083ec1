// Worklist (RIS, issue 10 §3): today's scheduled procedures per modality/room with their
// status as MPPS updates it (worklist_list.ts), and manual order entry for clinics without an
// EHR feed (order_form.ts).
import "./worklist.css";
import { renderOrderForm } from "./order_form";
import type { Area } from "./routes";
import { tr } from "./worklist_i18n";
import { renderWorklist, stopWorklist } from "./worklist_list";

export const worklistArea: Area = {
  nav: { href: "#/worklist", label: () => tr("wl.nav"), permission: "orders.read" },
  leave: stopWorklist,
  routes: [
    { pattern: /^#\/worklist\/new$/, render: (main, _match, principal) => renderOrderForm(main, principal) },
    { pattern: /^#\/worklist$/, render: (main, _match, principal) => renderWorklist(main, principal) },
  ],
};
