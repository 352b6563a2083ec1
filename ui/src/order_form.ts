// Manual order entry (#/worklist/new) for clinics without an EHR feed: the patient (looked up
// by ID, or entered new with kanji, kana and romaji names), the requested procedure from the
// JJ1017 master, modality, station, scheduled date/time, priority and the request → POST
// /api/orders. raddx assigns the accession number and IDs. The API checks everything; its
// problem document's `errors` are shown next to the fields they name.
import { ApiError, type ProblemError, type WhoAmI } from "./api";
import { h } from "./dom";
import { lang } from "./i18n";
import { formatDate, nameText } from "./names";
import { pnValue, worklistApi, type Jj1017Code, type OrderIn } from "./worklist_api";
import { MODALITIES, PRIORITIES, todayIso, tr, type WlKey } from "./worklist_i18n";
import { showDay } from "./worklist_list";

/** API body field → the id of the input that holds it. */
const INPUTS: Record<string, string> = {
  patient_id: "o-patient_id",
  patient_name: "o-kanji-family",
  patient_birth_date: "o-patient_birth_date",
  patient_sex: "o-patient_sex",
  jj1017_code: "o-jj1017_code",
  modality: "o-modality",
  scheduled_station_ae_title: "o-scheduled_station_ae_title",
  scheduled_station_name: "o-scheduled_station_name",
  scheduled_start_date: "o-scheduled_start_date",
  scheduled_start_time: "o-scheduled_start_time",
  priority: "o-priority",
  requesting_physician: "o-requesting_physician",
  requesting_service: "o-requesting_service",
  reason: "o-reason",
};
const DATE_FIELDS = new Set(["patient_birth_date", "scheduled_start_date"]);

let form: HTMLFormElement | null = null;
let codes: Jj1017Code[] = [];
let searchTimer: number | undefined;

function value(id: string): string {
  return form?.querySelector<HTMLInputElement | HTMLSelectElement>(`#${id}`)?.value.trim() ?? "";
}

function setValue(id: string, text: string): void {
  const el = form?.querySelector<HTMLInputElement | HTMLSelectElement>(`#${id}`);
  if (el) el.value = text;
}

/** A labelled control with the place its API error goes (aria-describedby). */
function field(id: string, label: WlKey, control: HTMLInputElement | HTMLSelectElement, wide = false): HTMLElement {
  control.id = id;
  control.name = id;
  control.setAttribute("aria-describedby", `${id}-error`);
  return h(
    "div",
    { class: wide ? "field wide" : "field" },
    h("label", { for: id }, tr(label)),
    control,
    h("p", { id: `${id}-error`, class: "error field-error" }),
  );
}

function text(extra: Record<string, string> = {}): HTMLInputElement {
  return h("input", { type: "text", autocomplete: "off", ...extra });
}

/** YYYY-MM-DD (or YYYYMMDD, YYYY/MM/DD) as DICOM DA; anything else is sent as typed for the
 * API to refuse with its reason. */
function toDa(input: string): string {
  return /^\d{4}[-/.]\d{2}[-/.]\d{2}$/.test(input) ? input.replace(/[-/.]/g, "") : input;
}

function toTm(input: string): string {
  return /^\d{1,2}:\d{2}(:\d{2})?$/.test(input) ? input.replaceAll(":", "").padStart(4, "0") : input;
}

function clearErrors(): void {
  for (const el of form?.querySelectorAll<HTMLElement>(".field-error") ?? []) el.textContent = "";
  for (const el of form?.querySelectorAll<HTMLElement>("[aria-invalid]") ?? []) el.removeAttribute("aria-invalid");
  const alert = form?.querySelector<HTMLElement>("#o-alert");
  if (alert) alert.textContent = "";
}

function alertText(message: string, ok = false): void {
  const alert = form?.querySelector<HTMLElement>("#o-alert");
  if (!alert) return;
  alert.textContent = message;
  alert.classList.toggle("error", !ok);
}

/** Put each of the problem's errors next to its field; the first invalid field gets focus. */
function showErrors(errors: ProblemError[]): boolean {
  let first: HTMLElement | null = null;
  for (const error of errors) {
    const name = [...error.loc].reverse().find((part) => !/^\d+$/.test(part) && part !== "body") ?? "";
    const id = INPUTS[name];
    const input = id ? form?.querySelector<HTMLElement>(`#${id}`) : null;
    if (!input) continue;
    const reason = error.msg.replace(/^Value error, /, "");
    const hint = DATE_FIELDS.has(name) ? tr("o.badDate") : name === "scheduled_start_time" ? tr("o.badTime") : "";
    const slot = form?.querySelector<HTMLElement>(`#${input.getAttribute("aria-describedby") ?? `${id}-error`}`);
    if (slot) slot.textContent = hint ? `${hint} (${reason})` : reason;
    input.setAttribute("aria-invalid", "true");
    first ??= input;
  }
  first?.focus();
  return first !== null;
}

/** Only the newest lookup may fill the form: an older answer arriving late (two clicks,
 *  a slow network) must not overwrite the patient asked for last. */
let lookupSeq = 0;

async function lookup(): Promise<void> {
  const id = value("o-patient_id");
  const out = form?.querySelector<HTMLElement>("#o-lookup-result");
  if (!id || !out) return;
  const seq = ++lookupSeq;
  try {
    const found = await worklistApi.patient(id);
    if (seq !== lookupSeq) return;
    if (!found) {
      // A new patient: nothing of a previous lookup stays in the fields.
      for (const name of ["kanji", "kana", "romaji"])
        for (const part of ["family", "given"]) setValue(`o-${name}-${part}`, "");
      setValue("o-patient_birth_date", "");
      setValue("o-patient_sex", "");
      out.textContent = tr("o.lookupNew", { id });
      return;
    }
    const split = (group: string | null) => (group ?? "").split("^");
    const [kf, kg] = split(found.name.Ideographic);
    const [pf, pg] = split(found.name.Phonetic);
    const [af, ag] = split(found.name.Alphabetic);
    setValue("o-kanji-family", kf ?? "");
    setValue("o-kanji-given", kg ?? "");
    setValue("o-kana-family", pf ?? "");
    setValue("o-kana-given", pg ?? "");
    setValue("o-romaji-family", af ?? "");
    setValue("o-romaji-given", ag ?? "");
    setValue("o-patient_birth_date", found.birthDate ? formatDate(found.birthDate) : "");
    setValue("o-patient_sex", found.sex ?? "");
    out.textContent = tr("o.lookupFound", { name: nameText(found.name, lang()) });
  } catch (exc) {
    if (seq !== lookupSeq) return;
    out.textContent = tr("o.lookupFailed", { detail: exc instanceof Error ? exc.message : String(exc) });
  }
}

async function searchCodes(): Promise<void> {
  const q = value("o-jj-q");
  const select = form?.querySelector<HTMLSelectElement>("#o-jj1017_code");
  const count = form?.querySelector<HTMLElement>("#o-jj-count");
  if (!select || !count) return;
  try {
    codes = q ? await worklistApi.jj1017(q, toDa(value("o-scheduled_start_date"))) : [];
  } catch (exc) {
    codes = [];
    count.textContent = exc instanceof Error ? exc.message : String(exc);
    return;
  }
  const keep = select.value;
  select.replaceChildren(
    h("option", { value: "" }, tr("o.jjNone")),
    ...codes.map((c) =>
      h(
        "option",
        { value: c.code, selected: c.code === keep },
        [c.name, c.name_kana ? `（${c.name_kana}）` : "", c.modality ? ` ${c.modality}` : ""].join(""),
      ),
    ),
  );
  count.textContent = q ? tr("o.jjCount", { count: codes.length }) : "";
}

function chooseCode(): void {
  const code = codes.find((c) => c.code === value("o-jj1017_code"));
  if (code?.modality && MODALITIES.includes(code.modality)) setValue("o-modality", code.modality);
}

function body(): OrderIn {
  const code = codes.find((c) => c.code === value("o-jj1017_code"));
  const orNull = (s: string) => s || null;
  const time = toTm(value("o-scheduled_start_time"));
  return {
    patient_id: value("o-patient_id"),
    patient_name: pnValue([
      [value("o-romaji-family"), value("o-romaji-given")],
      [value("o-kanji-family"), value("o-kanji-given")],
      [value("o-kana-family"), value("o-kana-given")],
    ]),
    patient_birth_date: orNull(toDa(value("o-patient_birth_date"))),
    patient_sex: orNull(value("o-patient_sex")),
    priority: value("o-priority") || "ROUTINE",
    requesting_physician: orNull(value("o-requesting_physician")),
    requesting_service: orNull(value("o-requesting_service")),
    reason: orNull(value("o-reason")),
    procedures: [
      {
        modality: value("o-modality"),
        scheduled_start_date: toDa(value("o-scheduled_start_date")),
        ...(time ? { scheduled_start_time: time } : {}),
        jj1017_code: orNull(value("o-jj1017_code")),
        description: code ? code.name : null,
        scheduled_station_ae_title: orNull(value("o-scheduled_station_ae_title")),
        scheduled_station_name: orNull(value("o-scheduled_station_name")),
      } as OrderIn["procedures"][number],
    ],
  };
}

async function submit(event: Event): Promise<void> {
  event.preventDefault();
  clearErrors();
  const button = form?.querySelector<HTMLButtonElement>("#o-submit");
  if (button) button.disabled = true;
  alertText(tr("o.sending"), true);
  try {
    const order = await worklistApi.placeOrder(body());
    const day = order.steps[0]?.scheduled_start_date ?? toDa(value("o-scheduled_start_date"));
    showDay(formatDate(day), tr("o.placed", { accession: order.accession_number, date: formatDate(day) }));
    location.hash = "#/worklist";
  } catch (exc) {
    if (exc instanceof ApiError && exc.errors.length && showErrors(exc.errors)) alertText(tr("o.invalid"));
    else alertText(tr("o.failed", { detail: exc instanceof Error ? exc.message : String(exc) }));
  } finally {
    if (button) button.disabled = false;
  }
}

function select(options: [string, string][], chosen = ""): HTMLSelectElement {
  return h("select", {}, ...options.map(([v, label]) => h("option", { value: v, selected: v === chosen }, label)));
}

export function renderOrderForm(main: HTMLElement, principal: WhoAmI): void {
  const back = h("a", { href: "#/worklist", class: "back" }, tr("o.back"));
  if (!principal.permissions.includes("orders.write")) {
    form = null;
    main.replaceChildren(back, h("h1", {}, tr("o.title")), h("p", { id: "o-denied", class: "error", role: "alert" }, tr("o.denied")));
    return;
  }
  codes = [];
  const now = new Date();
  const lookupButton = h("button", { type: "button", id: "o-lookup" }, tr("o.lookup"));
  lookupButton.addEventListener("click", () => void lookup());
  const patientId = text();
  patientId.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      void lookup();
    }
  });
  const jjQuery = text({ type: "search" });
  jjQuery.addEventListener("input", () => {
    window.clearTimeout(searchTimer);
    searchTimer = window.setTimeout(() => void searchCodes(), 250);
  });
  const jjSelect = select([["", tr("o.jjNone")]]);
  jjSelect.addEventListener("change", chooseCode);
  const modality = select([["", tr("o.choose")], ...MODALITIES.map((m): [string, string] => [m, m])]);
  const sex = select([
    ["", tr("o.sexNone")],
    ["M", tr("o.sexM")],
    ["F", tr("o.sexF")],
    ["O", tr("o.sexO")],
  ]);
  const priority = select(
    PRIORITIES.map((p): [string, string] => [p, tr(`pr.${p}` as WlKey)]),
    "ROUTINE",
  );
  const hhmm = `${String(now.getHours()).padStart(2, "0")}:${String(now.getMinutes()).padStart(2, "0")}`;

  form = h(
    "form",
    { id: "order-form", class: "order-form", novalidate: true },
    h(
      "fieldset",
      {},
      h("legend", {}, tr("o.patient")),
      h(
        "div",
        { class: "row" },
        field("o-patient_id", "o.patientId", patientId),
        h("div", { class: "actions" }, lookupButton),
      ),
      h("p", { id: "o-lookup-result", role: "status" }),
      h(
        "div",
        { class: "names" },
        field("o-kanji-family", "o.kanjiFamily", text({ lang: "ja" })),
        field("o-kanji-given", "o.kanjiGiven", text({ lang: "ja" })),
        field("o-kana-family", "o.kanaFamily", text({ lang: "ja" })),
        field("o-kana-given", "o.kanaGiven", text({ lang: "ja" })),
        field("o-romaji-family", "o.romajiFamily", text({ lang: "en" })),
        field("o-romaji-given", "o.romajiGiven", text({ lang: "en" })),
      ),
      h(
        "div",
        { class: "row" },
        field("o-patient_birth_date", "o.birth", text({ placeholder: "1980-04-01", inputmode: "numeric" })),
        field("o-patient_sex", "o.sex", sex),
      ),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, tr("o.procedure")),
      h(
        "div",
        { class: "row" },
        field("o-jj-q", "o.jjSearch", jjQuery, true),
        field("o-jj1017_code", "o.jjResults", jjSelect, true),
      ),
      h("p", { id: "o-jj-count", class: "help", role: "status" }),
      h(
        "div",
        { class: "row" },
        field("o-modality", "o.modality", modality),
        field("o-scheduled_station_ae_title", "o.stationAe", text({ maxlength: "16" })),
        field("o-scheduled_station_name", "o.stationName", text()),
      ),
      h(
        "div",
        { class: "row" },
        field("o-scheduled_start_date", "o.date", text({ value: todayIso(), inputmode: "numeric" })),
        field("o-scheduled_start_time", "o.time", text({ value: hhmm, inputmode: "numeric" })),
        field("o-priority", "o.priority", priority),
      ),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, tr("o.request")),
      h(
        "div",
        { class: "row" },
        field("o-requesting_physician", "o.physician", text()),
        field("o-requesting_service", "o.department", text()),
      ),
      field("o-reason", "o.reason", text(), true),
    ),
    h("p", { id: "o-alert", role: "alert" }),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", id: "o-submit" }, tr("o.submit")),
      h("a", { href: "#/worklist", class: "button", id: "o-cancel" }, tr("o.cancel")),
    ),
  );
  form.addEventListener("submit", (e) => void submit(e));
  main.replaceChildren(back, h("h1", {}, tr("o.title")), form);
  patientId.focus();
}
