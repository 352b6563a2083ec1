// The radiologist's reading list (#/reading): GET /api/reading-list, most urgent first
// (the API orders it: STAT/HIGH orders, then the longest waiting), with filters and paging.
import "./reporting.css";
import { ApiError, type WhoAmI } from "./api";
import { h } from "./dom";
import { lang } from "./i18n";
import { formatDate, nameParts } from "./names";
import { reportsApi, type ReadingItem } from "./reporting_api";
import { personText, statusLabel, tr, type TrKey } from "./reporting_i18n";

const MODALITIES = ["CT", "MR", "CR", "DX", "MG", "US", "NM", "PT", "XA", "RF", "ES", "OT"];
const PAGE = 50;
const STATUS_CHOICES = ["open", "unreported", "draft", "preliminary", "reported"] as const;

interface State {
  status: (typeof STATUS_CHOICES)[number];
  modality: string;
  from: string;
  to: string;
  offset: number;
}

const state: State = { status: "open", modality: "", from: "", to: "", offset: 0 };

function filters(): Record<string, string | string[]> {
  return {
    status: state.status === "open" ? [] : [state.status],
    modality: state.modality,
    date_from: state.from,
    date_to: state.to,
  };
}

function field(id: string, label: string, input: HTMLInputElement | HTMLSelectElement): HTMLElement {
  input.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), input);
}

function form(onSubmit: () => void): HTMLFormElement {
  const status = h("select", {});
  for (const s of STATUS_CHOICES)
    status.append(h("option", { value: s, selected: s === state.status }, tr(`rp.status.${s}` as TrKey)));
  const modality = h("select", {}, h("option", { value: "" }, tr("rp.any")));
  for (const m of MODALITIES) modality.append(h("option", { value: m, selected: m === state.modality }, m));
  const from = h("input", { type: "date", value: state.from });
  const to = h("input", { type: "date", value: state.to });
  const f = h(
    "form",
    { class: "search", role: "search", "aria-label": tr("rp.filters") },
    field("rl-status", tr("rp.status"), status),
    field("rl-modality", tr("rp.modality"), modality),
    field("rl-from", tr("rp.from"), from),
    field("rl-to", tr("rp.to"), to),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "rl-submit" }, tr("rp.search"))),
  );
  f.addEventListener("submit", (event) => {
    event.preventDefault();
    state.status = status.value as State["status"];
    state.modality = modality.value;
    state.from = from.value;
    state.to = to.value;
    state.offset = 0;
    onSubmit();
  });
  return f;
}

function priorityCell(priority: string | null): HTMLElement {
  const p = priority ?? "";
  return h(
    "td",
    { class: "priority" },
    p ? h("span", { class: `prio prio-${p.toLowerCase()}` }, p) : tr("rp.priority.none"),
  );
}

function row(item: ReadingItem, principal: WhoAmI): HTMLTableRowElement {
  const { primary, secondary } = nameParts(item.PatientName, lang());
  const canWrite = principal.permissions.includes("report.write");
  const link = item.report_id
    ? h("a", { href: `#/reports/${encodeURIComponent(item.report_id)}`, class: "open-report" }, tr("rp.open"))
    : canWrite
      ? h("a", { href: `#/reports/new/${encodeURIComponent(item.StudyInstanceUID)}`, class: "write-report" }, tr("rp.write"))
      : null;
  const statusText =
    item.status === "unreported" ? tr("rp.status.unreported") : statusLabel(item.report_status ?? item.status);
  return h(
    "tr",
    { "data-uid": item.StudyInstanceUID, "data-status": item.status },
    priorityCell(item.priority),
    h(
      "td",
      { class: `rstatus rstatus-${item.status}` },
      statusText,
      item.report_author ? h("span", { class: "reading", lang: "ja" }, personText(item.report_author)) : null,
    ),
    h(
      "td",
      { class: "name" },
      h("span", { class: "primary", lang: "ja" }, primary),
      secondary ? h("span", { class: "reading", lang: "ja" }, secondary) : null,
    ),
    h("td", {}, item.PatientID),
    h("td", {}, formatDate(item.StudyDate)),
    h("td", {}, item.ModalitiesInStudy.join(", ")),
    h("td", {}, item.AccessionNumber ?? ""),
    h("td", {}, item.StudyDescription ?? ""),
    h("td", {}, link),
  );
}

async function load(region: HTMLElement, principal: WhoAmI): Promise<void> {
  const status = h("p", { id: "rl-status-line", role: "status" }, tr("rp.loading"));
  region.replaceChildren(status);
  try {
    const page = await reportsApi.readingList(filters(), PAGE, state.offset);
    if (!region.isConnected) return;
    const cols: TrKey[] = [
      "rp.c.priority",
      "rp.c.status",
      "rp.c.patient",
      "rp.c.patientId",
      "rp.c.date",
      "rp.c.modality",
      "rp.c.accession",
      "rp.c.description",
      "rp.c.action",
    ];
    status.textContent = page.items.length
      ? tr("rp.range", { from: state.offset + 1, to: state.offset + page.items.length })
      : tr("rp.none");
    const prev = h("button", { type: "button", id: "rl-prev", disabled: state.offset === 0 }, tr("rp.prev"));
    const next = h("button", { type: "button", id: "rl-next", disabled: page.next === null }, tr("rp.next"));
    prev.addEventListener("click", () => {
      state.offset = Math.max(0, state.offset - PAGE);
      void load(region, principal);
    });
    next.addEventListener("click", () => {
      state.offset += PAGE;
      void load(region, principal);
    });
    region.append(
      ...(page.items.length
        ? [
            h(
              "table",
              { id: "reading-list" },
              h("caption", {}, tr("rp.caption")),
              h("thead", {}, h("tr", {}, ...cols.map((k) => h("th", { scope: "col" }, tr(k))))),
              h("tbody", {}, ...page.items.map((item) => row(item, principal))),
            ),
          ]
        : []),
      h("nav", { class: "pager", "aria-label": "pagination" }, prev, next),
    );
  } catch (exc) {
    status.classList.add("error");
    status.textContent =
      exc instanceof ApiError && exc.status === 403
        ? tr("rp.denied")
        : tr("rp.failed", { detail: exc instanceof Error ? exc.message : String(exc) });
  }
}

export function renderReadingList(main: HTMLElement, principal: WhoAmI): void {
  const region = h("section", { id: "rl-results", "aria-live": "polite" });
  main.replaceChildren(h("h1", {}, tr("rp.title")), form(() => void load(region, principal)), region);
  void load(region, principal);
}
