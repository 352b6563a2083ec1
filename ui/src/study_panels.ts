// The study page's order and MPPS panels: what the RIS knows of the study (its order by
// accession number, the modality's performed procedure steps). Shown only to roles that may
// read orders; each panel says so when there is nothing.
import type { Study } from "./api";
import { ApiError } from "./api";
import { tb } from "./browser_text";
import { h } from "./dom";
import { formatDate } from "./names";
import { studyApi, type Order, type PerformedStep } from "./study_api";

function when(value: string | null): string {
  if (!value) return "";
  const time = value.slice(8);
  return `${formatDate(value.slice(0, 8))}${time ? ` ${time.slice(0, 2)}:${time.slice(2, 4)}` : ""}`;
}

function orderFacts(order: Order): HTMLElement {
  const item = (label: string, value: string | null) => (value ? [h("dt", {}, label), h("dd", {}, value)] : []);
  const steps = order.steps.map(
    (s) =>
      `${s.modality} ${formatDate(s.scheduled_start_date)}${s.jj1017_code ? ` (${s.jj1017_code})` : ""}${
        s.scheduled_station_ae_title ? ` @${s.scheduled_station_ae_title}` : ""
      }`,
  );
  return h(
    "dl",
    { id: "order-facts" },
    ...item(tb("order.status"), order.status),
    ...item(tb("order.priority"), order.priority),
    ...item(tb("order.placer"), order.placer_order_number),
    ...item(tb("order.procedure"), steps.join(", ")),
  );
}

function mppsList(steps: PerformedStep[]): HTMLElement {
  if (!steps.length) return h("p", { id: "mpps-none" }, tb("mpps.none"));
  return h(
    "ul",
    { id: "mpps" },
    ...steps.map((s) =>
      h(
        "li",
        { "data-status": s.PerformedProcedureStepStatus },
        h("strong", {}, s.PerformedProcedureStepStatus),
        ` ${s.Modality ?? ""} ${s.PerformedStationAETitle ?? ""} ${when(s.start)}${s.end ? ` – ${when(s.end)}` : ""}`,
      ),
    ),
  );
}

/** The order and MPPS panels (empty for a role without orders.read). */
export function studyPanels(study: Study, permissions: string[]): HTMLElement {
  const box = h("div", { class: "study-sections" });
  if (!permissions.includes("orders.read")) return box;
  const order = h("section", { id: "study-order", "aria-labelledby": "order-title" }, h("h2", { id: "order-title" }, tb("order.title")));
  const mpps = h("section", { id: "study-mpps", "aria-labelledby": "mpps-title" }, h("h2", { id: "mpps-title" }, tb("mpps.title")));
  box.append(order, mpps);
  const accession = study.AccessionNumber;
  if (!accession) order.append(h("p", {}, tb("order.none")));
  else
    studyApi.order(accession).then(
      (o) => order.append(orderFacts(o)),
      (exc) => order.append(h("p", { class: exc instanceof ApiError && exc.status === 404 ? "" : "error" }, tb("order.none"))),
    );
  studyApi.procedureSteps(study.StudyInstanceUID).then(
    (steps) => mpps.append(mppsList(steps)),
    (exc) => mpps.append(h("p", { class: "error" }, tb("action.failed", { detail: String(exc) }))),
  );
  return box;
}
