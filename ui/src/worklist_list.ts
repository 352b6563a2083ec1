// Today's worklist: one day's scheduled procedure steps (GET /api/worklist, every status),
// filtered by modality and station/room, polled every few seconds so the status follows the
// modalities' MPPS (If-None-Match: an unchanged list is a 304 with no body); changes are
// announced politely (aria-live). Cancel a step or an order (POST …/cancel) after a
// confirmation, for a principal holding orders.write.
import { ApiError, type WhoAmI } from "./api";
import { h } from "./dom";
import { lang } from "./i18n";
import { formatDate, nameParts, nameText } from "./names";
import { personName, worklistApi, type WorklistFilters, type WorklistStep } from "./worklist_api";
import { MODALITIES, todayIso, tr, type WlKey } from "./worklist_i18n";

/** How often the list asks again (ms): MPPS changes show within this. */
export const POLL_MS = 3000;

interface State {
  date: string; // YYYY-MM-DD
  modality: string;
  station: string; // "ae:<AE>" or "name:<station name>" or ""
  rows: WorklistStep[];
  loaded: string; // the filter key the rows belong to
  etag: string | null; // the API's ETag of those rows (If-None-Match on the next poll)
  loading: boolean;
  error: string;
  updated: string;
  active: string | null; // SPS ID of the row holding the tab stop
  stations: Map<string, string>; // option value → label, as seen in the answers
}

const state: State = {
  date: todayIso(),
  modality: "",
  station: "",
  rows: [],
  loaded: "",
  etag: null,
  loading: false,
  error: "",
  updated: "",
  active: null,
  stations: new Map(),
};

let root: HTMLElement | null = null;
let canWrite = false;
let timer: number | undefined;

let flash = "";

/** Show this day (YYYY-MM-DD) the next time the list renders, and say `message` there
 * (after placing an order). */
export function showDay(date: string, message = ""): void {
  state.date = date;
  flash = message;
}

export function stopWorklist(): void {
  window.clearTimeout(timer);
  timer = undefined;
  root = null;
}

function filters(): WorklistFilters {
  const [kind, ...rest] = state.station.split(":");
  const value = rest.join(":");
  return {
    date: state.date.replaceAll("-", ""),
    modality: state.modality,
    station: kind === "ae" ? value : "",
    stationName: kind === "name" ? value : "",
  };
}

function statusText(status: string): string {
  return tr(`st.${status}` as WlKey) ?? status;
}

function procedureText(step: WorklistStep): string {
  return step.procedure_name ?? step.ScheduledProcedureStepDescription ?? step.jj1017_code ?? step.Modality;
}

function patientText(step: WorklistStep): string {
  return nameText(personName(step.PatientName), lang()) || step.PatientID;
}

function announce(text: string): void {
  const live = root?.querySelector<HTMLElement>("#wl-live");
  if (!live || !text) return;
  // A new node per message, so screen readers read each one once.
  live.replaceChildren(h("p", {}, text));
}

function rememberStations(rows: WorklistStep[]): void {
  for (const r of rows) {
    if (r.ScheduledStationAETitle) {
      const label = r.ScheduledStationName
        ? `${r.ScheduledStationAETitle} (${r.ScheduledStationName})`
        : r.ScheduledStationAETitle;
      state.stations.set(`ae:${r.ScheduledStationAETitle}`, label);
    } else if (r.ScheduledStationName) {
      state.stations.set(`name:${r.ScheduledStationName}`, r.ScheduledStationName);
    }
  }
}

/** What changed since the last answer for the same filters, as sentences to announce. */
function changes(before: WorklistStep[], after: WorklistStep[]): string[] {
  const old = new Map(before.map((s) => [s.ScheduledProcedureStepID, s]));
  const out: string[] = [];
  for (const step of after) {
    const was = old.get(step.ScheduledProcedureStepID);
    const what = { patient: patientText(step), procedure: procedureText(step) };
    if (!was) out.push(tr("live.added", what));
    else if (was.ScheduledProcedureStepStatus !== step.ScheduledProcedureStepStatus)
      out.push(tr("live.status", { ...what, status: statusText(step.ScheduledProcedureStepStatus) }));
  }
  return out;
}

async function refresh(): Promise<void> {
  window.clearTimeout(timer);
  const f = filters();
  const key = JSON.stringify(f);
  const sameView = key === state.loaded;
  if (!sameView) {
    state.loading = true;
    renderResults();
  }
  try {
    const answer = await worklistApi.steps(f, sameView ? state.etag : null);
    if (root === null || key !== JSON.stringify(filters())) return; // left, or filters changed
    const rows = answer ? answer.body : state.rows; // null: 304, nothing changed
    const news = sameView ? changes(state.rows, rows) : [];
    const changed = !sameView || answer !== null;
    state.rows = rows;
    state.etag = answer ? answer.etag : state.etag;
    state.loaded = key;
    state.error = "";
    state.updated = new Date().toLocaleTimeString(lang() === "ja" ? "ja-JP" : "en-GB");
    rememberStations(rows);
    if (changed || state.loading) {
      state.loading = false;
      renderStationOptions();
      renderResults();
    } else {
      renderStatus();
    }
    if (news.length) announce(news.join(" "));
  } catch (exc) {
    if (root === null) return;
    state.loading = false;
    if (exc instanceof ApiError && exc.status === 403) state.error = tr("wl.denied");
    else state.error = tr("wl.failed", { detail: exc instanceof Error ? exc.message : String(exc) });
    renderResults();
    if (exc instanceof ApiError && (exc.status === 401 || exc.status === 403)) return; // no retry
  }
  if (root !== null) timer = window.setTimeout(() => void refresh(), POLL_MS);
}

function renderStationOptions(): void {
  const select = root?.querySelector<HTMLSelectElement>("#wl-station");
  if (!select) return;
  const options = [...state.stations.entries()].sort((a, b) => a[1].localeCompare(b[1]));
  select.replaceChildren(
    h("option", { value: "" }, tr("wl.any")),
    ...options.map(([value, label]) => h("option", { value, selected: value === state.station }, label)),
  );
}

function renderFilters(): HTMLElement {
  const date = h("input", { id: "wl-date", type: "date", value: state.date, required: true });
  date.addEventListener("change", () => {
    if (!date.value) return; // cleared: keep the day shown
    state.date = date.value;
    void refresh();
  });
  const today = h("button", { type: "button", id: "wl-today" }, tr("wl.today"));
  today.addEventListener("click", () => {
    state.date = todayIso();
    date.value = state.date;
    void refresh();
  });
  const modality = h("select", { id: "wl-modality" }, h("option", { value: "" }, tr("wl.any")));
  for (const m of MODALITIES) modality.append(h("option", { value: m, selected: m === state.modality }, m));
  modality.addEventListener("change", () => {
    state.modality = modality.value;
    void refresh();
  });
  const station = h("select", { id: "wl-station" });
  station.addEventListener("change", () => {
    state.station = station.value;
    void refresh();
  });
  return h(
    "form",
    { class: "search wl-filters", role: "search", "aria-label": tr("wl.filters") },
    h("div", { class: "field" }, h("label", { for: "wl-date" }, tr("wl.date")), date),
    h("div", { class: "actions" }, today),
    h("div", { class: "field" }, h("label", { for: "wl-modality" }, tr("wl.modality")), modality),
    h("div", { class: "field" }, h("label", { for: "wl-station" }, tr("wl.station")), station),
    canWrite ? h("div", { class: "actions wl-new" }, h("a", { href: "#/worklist/new", class: "button", id: "wl-new" }, tr("wl.new"))) : null,
  );
}

async function cancel(step: WorklistStep, whole: boolean): Promise<void> {
  const what = {
    patient: patientText(step),
    procedure: procedureText(step),
    accession: step.AccessionNumber,
  };
  if (!window.confirm(tr(whole ? "a.confirmOrder" : "a.confirmStep", what))) return;
  try {
    if (whole) await worklistApi.cancelOrder(step.AccessionNumber);
    else await worklistApi.cancelStep(step.ScheduledProcedureStepID);
    announce(tr("a.cancelled", { what: whole ? step.AccessionNumber : `${what.patient}, ${what.procedure}` }));
  } catch (exc) {
    announce(tr("a.failed", { detail: exc instanceof Error ? exc.message : String(exc) }));
  }
  await refresh();
}

function actions(step: WorklistStep): HTMLTableCellElement {
  const cell = h("td", { class: "actions-cell" });
  const who = { patient: patientText(step), procedure: procedureText(step), accession: step.AccessionNumber };
  if (step.ScheduledProcedureStepStatus === "SCHEDULED") {
    const b = h("button", { type: "button", "data-action": "cancel-step", "aria-label": tr("a.cancelStepLabel", who) }, tr("a.cancelStep"));
    b.addEventListener("click", () => void cancel(step, false));
    cell.append(b);
  }
  if (step.order_status === "SCHEDULED") {
    const b = h("button", { type: "button", "data-action": "cancel-order", "aria-label": tr("a.cancelOrderLabel", who) }, tr("a.cancelOrder"));
    b.addEventListener("click", () => void cancel(step, true));
    cell.append(b);
  }
  return cell;
}

function timeText(value: string): string {
  return /^\d{4}/.test(value) ? `${value.slice(0, 2)}:${value.slice(2, 4)}` : value;
}

function row(step: WorklistStep): HTMLTableRowElement {
  const name = nameParts(personName(step.PatientName), lang());
  const status = step.ScheduledProcedureStepStatus;
  const station = [step.ScheduledStationAETitle, step.ScheduledStationName].filter(Boolean).join(" / ");
  const tr_ = h(
    "tr",
    {
      tabindex: step.ScheduledProcedureStepID === state.active ? 0 : -1,
      "data-sps": step.ScheduledProcedureStepID,
      "data-status": status,
      class: `st-${status}`,
    },
    h("td", { class: "time" }, timeText(step.ScheduledProcedureStepStartTime)),
    h(
      "td",
      { class: "name" },
      h("span", { class: "primary", lang: "ja" }, name.primary || step.PatientID),
      name.secondary ? h("span", { class: "reading", lang: "ja" }, name.secondary) : null,
    ),
    h("td", {}, step.PatientID),
    h("td", {}, step.AccessionNumber),
    h(
      "td",
      { class: "procedure" },
      h("span", { class: "primary", lang: "ja" }, procedureText(step)),
      step.procedure_name_kana ? h("span", { class: "reading", lang: "ja" }, step.procedure_name_kana) : null,
    ),
    h("td", {}, step.Modality),
    h("td", {}, station),
    h("td", { class: `priority pr-${step.RequestedProcedurePriority}` }, tr(`pr.${step.RequestedProcedurePriority}` as WlKey)),
    h("td", { class: "status" }, h("span", { class: "badge" }, statusText(status))),
    canWrite ? actions(step) : null,
  );
  tr_.addEventListener("focusin", () => {
    state.active = step.ScheduledProcedureStepID;
  });
  return tr_;
}

function onTableKey(event: KeyboardEvent): void {
  if (!(event.target instanceof HTMLTableRowElement)) return;
  const rows = [...(root?.querySelectorAll<HTMLTableRowElement>("#worklist tbody tr") ?? [])];
  const at = rows.indexOf(event.target);
  let next = at;
  switch (event.key) {
    case "ArrowDown":
      next = Math.min(rows.length - 1, at + 1);
      break;
    case "ArrowUp":
      next = Math.max(0, at - 1);
      break;
    case "Home":
      next = 0;
      break;
    case "End":
      next = rows.length - 1;
      break;
    default:
      return;
  }
  event.preventDefault();
  rows.forEach((r, i) => r.setAttribute("tabindex", i === next ? "0" : "-1"));
  rows[next]?.focus();
}

function renderStatus(): void {
  const status = root?.querySelector<HTMLElement>("#wl-status");
  if (!status) return;
  status.classList.toggle("error", Boolean(state.error));
  if (state.loading) status.textContent = tr("wl.loading");
  else if (state.error) status.textContent = state.error;
  else if (!state.rows.length) status.textContent = tr("wl.none");
  else status.textContent = tr("wl.count", { count: state.rows.length });
  // Outside the live region: the poll's time would otherwise be read out every few seconds.
  const updated = root?.querySelector<HTMLElement>("#wl-updated");
  if (updated) updated.textContent = state.updated ? tr("wl.updated", { time: state.updated }) : "";
}

function renderResults(): void {
  const region = root?.querySelector<HTMLElement>("#wl-results");
  if (!region) return;
  // Keep focus where it was across a refresh: the same row, or the same button in it.
  const focused = document.activeElement;
  const focusSps = focused instanceof HTMLElement ? focused.closest("tr")?.dataset.sps : undefined;
  const focusAction = focused instanceof HTMLElement ? focused.dataset.action : undefined;
  const inTable = focused instanceof HTMLElement && region.contains(focused);

  if (!state.rows.some((r) => r.ScheduledProcedureStepID === state.active))
    state.active = state.rows[0]?.ScheduledProcedureStepID ?? null;
  const children: Node[] = [];
  if (state.rows.length && !state.loading) {
    const heads: WlKey[] = ["c.time", "c.patient", "c.patientId", "c.accession", "c.procedure", "c.modality", "c.station", "c.priority", "c.status"];
    if (canWrite) heads.push("c.actions");
    const table = h(
      "table",
      { id: "worklist", "aria-describedby": "wl-help" },
      h("caption", {}, tr("wl.caption", { date: formatDate(state.date.replaceAll("-", "")) })),
      h("thead", {}, h("tr", {}, ...heads.map((k) => h("th", { scope: "col" }, tr(k))))),
      h("tbody", {}, ...state.rows.map(row)),
    );
    table.addEventListener("keydown", onTableKey);
    children.push(h("p", { id: "wl-help", class: "help" }, tr("wl.help")), table);
  }
  region.replaceChildren(...children);
  renderStatus();
  if (inTable && focusSps) {
    const tr_ = region.querySelector<HTMLTableRowElement>(`tr[data-sps="${CSS.escape(focusSps)}"]`);
    const target = focusAction ? tr_?.querySelector<HTMLElement>(`[data-action="${focusAction}"]`) : tr_;
    (target ?? tr_)?.focus();
  }
}

export function renderWorklist(main: HTMLElement, principal: WhoAmI): void {
  root = main;
  canWrite = principal.permissions.includes("orders.write");
  state.loaded = ""; // a fresh view: no announcements for what was already there
  main.replaceChildren(
    h("h1", {}, tr("wl.title")),
    renderFilters(),
    h("div", { class: "wl-statusbar" }, h("p", { id: "wl-status", role: "status" }), h("p", { id: "wl-updated" })),
    h("div", { id: "wl-live", class: "live", "aria-live": "polite" }),
    h("section", { id: "wl-results" }),
  );
  renderStationOptions();
  if (flash) {
    const message = flash;
    flash = "";
    // After the live region is in the page, so the change is announced.
    window.setTimeout(() => announce(message), 50);
  }
  void refresh();
}
