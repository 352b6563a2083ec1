// The study browser: search form, paged results from GET /api/studies (limit/offset, the
// answer's `next` says whether a further page exists), sortable columns, keyboard-navigable rows.
import { api, ApiError, type Study } from "./api";
import { h } from "./dom";
import { lang, t, type Key } from "./i18n";
import { formatDate, nameParts, nameText } from "./names";

const MODALITIES = ["CT", "MR", "CR", "DX", "MG", "US", "NM", "PT", "XA", "RF", "ES", "OT"];
const PAGE_SIZES = [10, 25, 50, 100, 200];

type Column =
  | "PatientName"
  | "PatientID"
  | "PatientBirthDate"
  | "PatientSex"
  | "StudyDate"
  | "ModalitiesInStudy"
  | "AccessionNumber"
  | "StudyDescription"
  | "NumberOfStudyRelatedInstances";

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
];

interface State {
  form: Record<string, string>;
  limit: number;
  offset: number;
  items: Study[];
  hasNext: boolean;
  searched: boolean;
  loading: boolean;
  error: string;
  sort: { column: Column; descending: boolean } | null;
  active: number; // index (in the displayed order) of the row that holds the tab stop
  selected: string | null; // StudyInstanceUID
}

const state: State = {
  form: { PatientID: "", PatientName: "", AccessionNumber: "", Modality: "", from: "", to: "" },
  limit: 25,
  offset: 0,
  items: [],
  hasNext: false,
  searched: false,
  loading: false,
  error: "",
  sort: null,
  active: 0,
  selected: null,
};

let root: HTMLElement | null = null;

/** The API's filters from the form: a name without wildcards matches as a prefix. */
function filters(): Record<string, string> {
  const f = state.form;
  const name = f.PatientName.trim();
  const from = f.from.replaceAll("-", "");
  const to = f.to.replaceAll("-", "");
  return {
    PatientID: f.PatientID.trim(),
    PatientName: name && !/[*?]/.test(name) ? `${name}*` : name,
    AccessionNumber: f.AccessionNumber.trim(),
    ModalitiesInStudy: f.Modality,
    StudyDate: from || to ? (from === to ? from : `${from}-${to}`) : "",
  };
}

async function search(offset: number): Promise<void> {
  state.loading = true;
  state.error = "";
  state.offset = offset;
  renderResults();
  try {
    const page = await api.studies(filters(), state.limit, offset);
    state.items = page.items;
    state.hasNext = page.next !== null;
    state.active = 0;
    state.selected = null;
  } catch (exc) {
    state.items = [];
    state.hasNext = false;
    if (exc instanceof ApiError && exc.status === 403) state.error = t("denied");
    else state.error = t("r.error", { detail: exc instanceof Error ? exc.message : String(exc) });
  } finally {
    state.loading = false;
    state.searched = true;
    renderResults();
  }
}

function sortValue(study: Study, column: Column): string | number {
  switch (column) {
    case "PatientName":
      return nameText(study.PatientName, lang());
    case "StudyDate":
      return `${study.StudyDate ?? ""}${study.StudyTime ?? ""}`;
    case "ModalitiesInStudy":
      return study.ModalitiesInStudy.join(",");
    case "NumberOfStudyRelatedInstances":
      return study.NumberOfStudyRelatedInstances;
    default:
      return study[column] ?? "";
  }
}

function displayed(): Study[] {
  const rows = [...state.items];
  const sort = state.sort;
  if (!sort) return rows;
  const collator = new Intl.Collator(lang(), { numeric: true });
  rows.sort((a, b) => {
    const x = sortValue(a, sort.column);
    const y = sortValue(b, sort.column);
    const order = typeof x === "number" && typeof y === "number" ? x - y : collator.compare(String(x), String(y));
    return sort.descending ? -order : order;
  });
  return rows;
}

function field(key: string, labelKey: Key, input: HTMLInputElement | HTMLSelectElement): HTMLElement {
  input.id = `f-${key}`;
  input.name = key;
  input.value = state.form[key] ?? "";
  input.addEventListener("input", () => {
    state.form[key] = input.value;
  });
  return h("div", { class: "field" }, h("label", { for: input.id }, t(labelKey)), input);
}

function renderForm(): HTMLFormElement {
  const modality = h("select", {}, h("option", { value: "" }, t("f.any")));
  for (const m of MODALITIES) modality.append(h("option", { value: m }, m));
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
    void search(0);
  });
  form.addEventListener("reset", () => {
    for (const key of Object.keys(state.form)) state.form[key] = "";
  });
  return form;
}

function headerCell(column: Column): HTMLTableCellElement {
  const sorted = state.sort?.column === column ? state.sort : null;
  const arrow = sorted ? (sorted.descending ? " ▼" : " ▲") : "";
  const button = h(
    "button",
    { type: "button", class: "sort", "data-column": column },
    t(`c.${column}` as Key),
    h("span", { "aria-hidden": "true" }, arrow),
    sorted ? h("span", { class: "sr-only" }, ` (${t(sorted.descending ? "sort.desc" : "sort.asc")})`) : null,
  );
  button.addEventListener("click", () => {
    state.sort = sorted && !sorted.descending ? { column, descending: true } : { column, descending: false };
    state.active = 0;
    renderResults();
    root?.querySelector<HTMLButtonElement>(`button.sort[data-column="${column}"]`)?.focus();
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
  const status = h("p", { id: "results-status", role: "status" });
  if (state.loading) status.textContent = t("r.loading");
  else if (state.error) status.textContent = state.error;
  else if (state.searched && !state.items.length) status.textContent = t("r.none");
  else if (state.items.length)
    status.textContent = t("r.range", { from: state.offset + 1, to: state.offset + state.items.length });
  if (state.error) status.classList.add("error");

  const children: Node[] = [status];
  if (state.items.length) {
    const rows = displayed();
    const table = h(
      "table",
      { id: "studies", role: "grid", "aria-describedby": "studies-help", "aria-rowcount": rows.length + 1 },
      h("caption", {}, t("r.caption")),
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
  prev.addEventListener("click", () => void search(Math.max(0, state.offset - state.limit)));
  next.addEventListener("click", () => void search(state.offset + state.limit));
  if (state.searched) children.push(h("nav", { class: "pager", "aria-label": "pagination" }, prev, next));
  region.replaceChildren(...children);
}

export function renderStudies(main: HTMLElement): void {
  root = main;
  main.replaceChildren(
    h("h1", {}, t("studies.title")),
    renderForm(),
    h("section", { id: "results" }),
  );
  renderResults();
  // Back from a study: focus returns to its row; otherwise to the name field.
  if (state.selected && state.items.length) focusRow(state.active);
  else main.querySelector<HTMLInputElement>("#f-PatientName")?.focus();
}
