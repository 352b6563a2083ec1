// The study browser: search form, paged results from GET /api/studies (limit/offset, the
// answer's `next` says whether a further page exists, `total` how many match, capped),
// columns sorted on the server (`sort=`), keyboard-navigable rows. The search, sort and page
// live in the URL hash (#/studies?PatientName=…&sort=-StudyDate&offset=25), so a link or the
// browser's back button brings the same list back.
import { api, ApiError, type Study } from "./api";
import { tb } from "./browser_text";
import "./browser.css";
import { h } from "./dom";
import { lang, t, type Key } from "./i18n";
import { formatDate, nameParts, nameText } from "./names";

const MODALITIES = ["CT", "MR", "CR", "DX", "MG", "US", "NM", "PT", "XA", "RF", "ES", "OT"];
const PAGE_SIZES = [10, 25, 50, 100, 200];
const REPORT_STATUSES = ["none", "draft", "preliminary", "final", "amended", "corrected"] as const;

type Column =
  | "PatientName"
  | "PatientID"
  | "PatientBirthDate"
  | "PatientSex"
  | "StudyDate"
  | "ModalitiesInStudy"
  | "AccessionNumber"
  | "StudyDescription"
  | "NumberOfStudyRelatedInstances"
  | "ReportStatus";

/** Columns the API sorts by (GET /api/studies?sort=…); the others are not sortable. */
const SORTABLE = new Set<Column>([
  "PatientName",
  "PatientID",
  "StudyDate",
  "ModalitiesInStudy",
  "AccessionNumber",
  "StudyDescription",
]);
type Sort = { column: Column; descending: boolean };
const DEFAULT_SORT: Sort = { column: "StudyDate", descending: true };

const COLUMNS: Column[] = [
  "PatientName",
  "PatientID",
  "PatientBirthDate",
  "PatientSex",
  "StudyDate",
  "ModalitiesInStudy",
  "AccessionNumber",
  "StudyDescription",
  "NumberOfStudyRelatedInstances",
  "ReportStatus",
];

interface State {
  form: Record<string, string>;
  limit: number;
  offset: number;
  items: Study[];
  hasNext: boolean;
  total: number | null;
  totalExact: boolean;
  searched: boolean;
  loading: boolean;
  error: string;
  sort: Sort;
  active: number; // index (in the displayed order) of the row that holds the tab stop
  selected: string | null; // StudyInstanceUID
  /** The hash query of the results shown (to tell a new search from a way back). */
  shown: string | null;
  /** A control to focus once the results are drawn (the sort button that was clicked). */
  focusAfter: string | null;
}

const FORM_KEYS = [
  "PatientID",
  "PatientName",
  "AccessionNumber",
  "Modality",
  "from",
  "to",
  "ReferringPhysicianName",
  "ReportStatus",
];

const state: State = {
  form: Object.fromEntries(FORM_KEYS.map((k) => [k, ""])),
  limit: 25,
  offset: 0,
  items: [],
  hasNext: false,
  total: null,
  totalExact: true,
  searched: false,
  loading: false,
  error: "",
  sort: DEFAULT_SORT,
  active: 0,
  selected: null,
  shown: null,
  focusAfter: null,
};

let root: HTMLElement | null = null;
/** The language the list was drawn in (a switch redraws it). */
let renderedLang = lang();
/** Searches finished since the page loaded. */
let searches = 0;

/** A person name as typed: without wildcards it matches as a prefix. */
function prefix(value: string): string {
  const name = value.trim();
  return name && !/[*?]/.test(name) ? `${name}*` : name;
}

/** The API's filters and sort from the form. */
function filters(): Record<string, string> {
  const f = state.form;
  const from = f.from.replaceAll("-", "");
  const to = f.to.replaceAll("-", "");
  return {
    PatientID: f.PatientID.trim(),
    PatientName: prefix(f.PatientName),
    AccessionNumber: f.AccessionNumber.trim(),
    ModalitiesInStudy: f.Modality,
    StudyDate: from || to ? (from === to ? from : `${from}-${to}`) : "",
    ReferringPhysicianName: prefix(f.ReferringPhysicianName),
    report_status: f.ReportStatus,
    sort: `${state.sort.descending ? "-" : ""}${state.sort.column}`,
  };
}

/** The list's state as a hash query: the form as typed, the sort and the page. */
function hashQuery(): string {
  const query = new URLSearchParams();
  for (const key of FORM_KEYS) if (state.form[key]) query.set(key, state.form[key]);
  query.set("sort", `${state.sort.descending ? "-" : ""}${state.sort.column}`);
  query.set("limit", String(state.limit));
  if (state.offset) query.set("offset", String(state.offset));
  return query.toString();
}

/** Where "back to the list" goes: the list as last searched (or the empty list). */
export function studyListHash(): string {
  return state.shown === null ? "#/studies" : `#/studies?${state.shown}`;
}

/** Take the form, sort and page from a hash query (unknown values are ignored). */
function applyHashQuery(text: string): void {
  const query = new URLSearchParams(text);
  for (const key of FORM_KEYS) state.form[key] = query.get(key) ?? "";
  const sort = query.get("sort") ?? "";
  const column = sort.replace(/^-/, "") as Column;
  state.sort = SORTABLE.has(column) ? { column, descending: sort.startsWith("-") } : DEFAULT_SORT;
  const limit = Number(query.get("limit"));
  state.limit = PAGE_SIZES.includes(limit) ? limit : 25;
  const offset = Number(query.get("offset"));
  state.offset = Number.isInteger(offset) && offset > 0 ? offset : 0;
}

/** Search with the current form/sort from ``offset``: through the hash, so the browser's
 * history holds every list; the hashchange does the search. */
function go(offset: number): void {
  state.offset = offset;
  const hash = `#/studies?${hashQuery()}`;
  if (location.hash === hash || decodeURIComponent(location.hash) === decodeURIComponent(hash)) void search();
  else location.hash = hash;
}

async function search(): Promise<void> {
  state.loading = true;
  state.error = "";
  state.shown = hashQuery();
  renderResults();
  try {
    const page = await api.studies(filters(), state.limit, state.offset);
    state.items = page.items;
    state.hasNext = page.next !== null;
    state.total = page.total ?? null;
    state.totalExact = page.total_exact ?? true;
    state.active = 0;
    state.selected = null;
  } catch (exc) {
    state.items = [];
    state.hasNext = false;
    state.total = null;
    if (exc instanceof ApiError && exc.status === 403) state.error = t("denied");
    else state.error = t("r.error", { detail: exc instanceof Error ? exc.message : String(exc) });
  } finally {
    searches += 1;
    state.loading = false;
    state.searched = true;
    renderResults();
  }
}

/** The rows in the order the server sorted them. */
function displayed(): Study[] {
  return state.items;
}

function field(key: string, labelKey: Key, input: HTMLInputElement | HTMLSelectElement): HTMLElement {
  return fieldText(key, t(labelKey), input);
}

function fieldText(key: string, label: string, input: HTMLInputElement | HTMLSelectElement): HTMLElement {
  input.id = `f-${key}`;
  input.name = key;
  input.value = state.form[key] ?? "";
  input.addEventListener("input", () => {
    state.form[key] = input.value;
  });
  return h("div", { class: "field" }, h("label", { for: input.id }, label), input);
}

function renderForm(): HTMLFormElement {
  const modality = h("select", {}, h("option", { value: "" }, t("f.any")));
  for (const m of MODALITIES) modality.append(h("option", { value: m }, m));
  const reportStatus = h("select", {}, h("option", { value: "" }, t("f.any")));
  for (const v of REPORT_STATUSES) reportStatus.append(h("option", { value: v }, tb(`rs.${v}`)));
  const size = h("select", { id: "f-limit", name: "limit" });
  for (const n of PAGE_SIZES) size.append(h("option", { value: n, selected: n === state.limit }, String(n)));
  size.addEventListener("change", () => {
    state.limit = Number(size.value);
  });
  const form = h(
    "form",
    { class: "search", role: "search", "aria-label": t("studies.search") },
    field("PatientID", "f.PatientID", h("input", { autocomplete: "off" })),
    field("PatientName", "f.PatientName", h("input", { autocomplete: "off" })),
    field("AccessionNumber", "f.AccessionNumber", h("input", { autocomplete: "off" })),
    field("Modality", "f.Modality", modality),
    field("from", "f.from", h("input", { type: "date" })),
    field("to", "f.to", h("input", { type: "date" })),
    fieldText("ReferringPhysicianName", tb("f.ReferringPhysicianName"), h("input", { autocomplete: "off" })),
    fieldText("ReportStatus", tb("f.ReportStatus"), reportStatus),
    h("div", { class: "field" }, h("label", { for: "f-limit" }, t("f.pageSize")), size),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", id: "search-submit" }, t("f.submit")),
      h("button", { type: "reset", id: "search-clear" }, t("f.clear")),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    go(0);
  });
  form.addEventListener("reset", () => {
    for (const key of Object.keys(state.form)) state.form[key] = "";
  });
  return form;
}

function columnLabel(column: Column): string {
  return column === "ReportStatus" ? tb("c.ReportStatus") : t(`c.${column}` as Key);
}

function headerCell(column: Column): HTMLTableCellElement {
  if (!SORTABLE.has(column)) return h("th", { scope: "col" }, columnLabel(column));
  const sorted = state.sort.column === column ? state.sort : null;
  const arrow = sorted ? (sorted.descending ? " ▼" : " ▲") : "";
  const button = h(
    "button",
    { type: "button", class: "sort", "data-column": column },
    columnLabel(column),
    h("span", { "aria-hidden": "true" }, arrow),
    sorted ? h("span", { class: "sr-only" }, ` (${t(sorted.descending ? "sort.desc" : "sort.asc")})`) : null,
  );
  button.addEventListener("click", () => {
    // Sorted on the server, from the first page: the whole result set is in that order.
    state.sort = sorted && !sorted.descending ? { column, descending: true } : { column, descending: false };
    state.focusAfter = `button.sort[data-column="${column}"]`;
    go(0);
  });
  return h(
    "th",
    { scope: "col", "aria-sort": sorted ? (sorted.descending ? "descending" : "ascending") : "none" },
    button,
  );
}

function nameCell(study: Study): HTMLTableCellElement {
  const { primary, secondary } = nameParts(study.PatientName, lang());
  return h(
    "td",
    { class: "name" },
    h("span", { class: "primary", lang: "ja" }, primary),
    secondary ? h("span", { class: "reading", lang: "ja" }, secondary) : null,
  );
}

function row(study: Study, index: number): HTMLTableRowElement {
  const selected = study.StudyInstanceUID === state.selected;
  const tr = h(
    "tr",
    {
      tabindex: index === state.active ? 0 : -1,
      "aria-selected": selected ? "true" : "false",
      "data-uid": study.StudyInstanceUID,
      class: selected ? "selected" : null,
    },
    nameCell(study),
    h("td", {}, study.PatientID ?? ""),
    h("td", {}, formatDate(study.PatientBirthDate)),
    h("td", {}, study.PatientSex ?? ""),
    h("td", {}, formatDate(study.StudyDate)),
    h("td", {}, study.ModalitiesInStudy.join(", ")),
    h("td", {}, study.AccessionNumber ?? ""),
    h("td", {}, study.StudyDescription ?? ""),
    h("td", { class: "num" }, String(study.NumberOfStudyRelatedInstances)),
    h(
      "td",
      { class: "report-status" },
      h("span", { class: `rs rs-${study.ReportStatus}` }, tb(`rs.${study.ReportStatus}`)),
    ),
  );
  tr.addEventListener("click", () => select(index));
  tr.addEventListener("dblclick", () => open(index));
  return tr;
}

function select(index: number): void {
  const study = displayed()[index];
  if (!study) return;
  state.selected = study.StudyInstanceUID;
  state.active = index;
  renderResults();
  focusRow(index);
}

/** Open the study's page (#/studies/<uid>); the list keeps its state for the way back. */
function open(index: number): void {
  const study = displayed()[index];
  if (!study) return;
  state.selected = study.StudyInstanceUID;
  state.active = index;
  location.hash = `#/studies/${encodeURIComponent(study.StudyInstanceUID)}`;
}

function focusRow(index: number): void {
  const rows = root?.querySelectorAll<HTMLTableRowElement>("tbody tr") ?? [];
  rows.forEach((tr, i) => tr.setAttribute("tabindex", i === index ? "0" : "-1"));
  rows[index]?.focus();
}

function onTableKey(event: KeyboardEvent): void {
  const count = state.items.length;
  if (!count || !(event.target instanceof HTMLTableRowElement)) return;
  let next = state.active;
  switch (event.key) {
    case "ArrowDown":
      next = Math.min(count - 1, state.active + 1);
      break;
    case "ArrowUp":
      next = Math.max(0, state.active - 1);
      break;
    case "Home":
      next = 0;
      break;
    case "End":
      next = count - 1;
      break;
    case " ":
      event.preventDefault();
      select(state.active);
      return;
    case "Enter":
      event.preventDefault();
      open(state.active);
      return;
    default:
      return;
  }
  event.preventDefault();
  state.active = next;
  focusRow(next);
}

function renderResults(): void {
  const region = root?.querySelector<HTMLElement>("#results");
  if (!region) return;
  region.setAttribute("aria-busy", state.loading ? "true" : "false");
  region.dataset.searches = String(searches); // lets tests wait for a search to finish
  const status = h("p", { id: "results-status", role: "status" });
  if (state.loading) status.textContent = t("r.loading");
  else if (state.error) status.textContent = state.error;
  else if (state.searched && !state.items.length) status.textContent = t("r.none");
  else if (state.items.length) {
    const range = t("r.range", { from: state.offset + 1, to: state.offset + state.items.length });
    const total =
      state.total === null
        ? ""
        : tb(state.totalExact ? "r.total" : "r.totalMore", { total: state.total.toLocaleString(lang()) });
    status.textContent = lang() === "ja" ? `${range}${total}` : `${range} ${total}`.trim();
  }
  if (state.error) status.classList.add("error");

  const children: Node[] = [status];
  if (state.items.length) {
    const rows = displayed();
    const table = h(
      "table",
      { id: "studies", role: "grid", "aria-describedby": "studies-help", "aria-rowcount": rows.length + 1 },
      h("caption", {}, tb("r.caption")),
      h("thead", {}, h("tr", {}, ...COLUMNS.map(headerCell))),
      h("tbody", {}, ...rows.map(row)),
    );
    table.addEventListener("keydown", onTableKey);
    children.push(h("p", { id: "studies-help", class: "help" }, t("r.help")), table);
    const chosen = rows.find((s) => s.StudyInstanceUID === state.selected);
    if (chosen)
      children.push(
        h(
          "p",
          { id: "selection", "aria-live": "polite" },
          t("r.selected", {
            name: nameText(chosen.PatientName, lang()),
            date: formatDate(chosen.StudyDate),
            desc: chosen.StudyDescription ?? "",
          }),
        ),
      );
  }
  const prev = h("button", { type: "button", id: "page-prev", disabled: state.offset === 0 || state.loading }, t("r.prev"));
  const next = h("button", { type: "button", id: "page-next", disabled: !state.hasNext || state.loading }, t("r.next"));
  prev.addEventListener("click", () => go(Math.max(0, state.offset - state.limit)));
  next.addEventListener("click", () => go(state.offset + state.limit));
  if (state.searched) children.push(h("nav", { class: "pager", "aria-label": "pagination" }, prev, next));
  region.replaceChildren(...children);
  if (!state.loading && state.focusAfter) {
    root?.querySelector<HTMLElement>(state.focusAfter)?.focus();
    state.focusAfter = null;
  }
}

/** Put the state's form values into the form's inputs (after a hash change). */
function syncForm(form: HTMLFormElement): void {
  for (const key of FORM_KEYS) {
    const input = form.querySelector<HTMLInputElement | HTMLSelectElement>(`#f-${key}`);
    if (input) input.value = state.form[key] ?? "";
  }
  const size = form.querySelector<HTMLSelectElement>("#f-limit");
  if (size) size.value = String(state.limit);
}

/**
 * The list for ``#/studies`` (``query`` undefined: the list as it was, or empty) or
 * ``#/studies?<query>`` (that search, sort and page; searched unless it is what is shown).
 */
export function renderStudies(main: HTMLElement, query?: string): void {
  const fresh = query !== undefined && query !== state.shown;
  if (query !== undefined) applyHashQuery(query);
  else if (state.shown !== null) history.replaceState(null, "", studyListHash());
  const form = main.querySelector<HTMLFormElement>("form.search");
  if (root === main && form && main.querySelector("#results") && renderedLang === lang()) {
    // Already on the list (a search, sort or page, or back/forward between lists): keep the
    // page and its focus, update the form and the results.
    syncForm(form);
    if (fresh) void search();
    return;
  }
  root = main;
  renderedLang = lang();
  main.replaceChildren(
    h("h1", {}, t("studies.title")),
    renderForm(),
    h("section", { id: "results" }),
  );
  renderResults();
  if (fresh) {
    void search();
    return;
  }
  // Back from a study: focus returns to its row; otherwise to the name field.
  if (state.selected && state.items.length) focusRow(state.active);
  else main.querySelector<HTMLInputElement>("#f-PatientName")?.focus();
}
