// Audit log search (audit.read, the auditor role): filters by patient, user, event type and
// time range, paged. Every search is itself recorded by the API (Audit Log Used, 110101).
import { adminApi, type AuditRecord } from "./admin_api";
import { tr, type AdminKey } from "./admin_strings";
import { cell, failure, field, fmtTime, page, section, select, table } from "./admin_ui";
import { h } from "./dom";

/** PS3.15 A.5.3 EventIDs (DCM codes) raddx records, for the filter and the table. */
const EVENTS = [
  "110100",
  "110101",
  "110102",
  "110103",
  "110104",
  "110105",
  "110106",
  "110107",
  "110109",
  "110110",
  "110111",
  "110112",
  "110113",
  "110114",
] as const;

const OUTCOMES: Record<number, AdminKey> = {
  0: "audit.o0",
  4: "audit.o4",
  8: "audit.o8",
  12: "audit.o12",
};

function eventName(code: string): string {
  return (EVENTS as readonly string[]).includes(code) ? tr(`ev.${code}` as AdminKey) : code;
}

/** An <input type="datetime-local"> value (local time) as ISO 8601 UTC for the API. */
function isoOf(local: string): string {
  return local ? new Date(local).toISOString() : "";
}

interface Summary {
  /** EventTypeCode meanings: what kind of security alert, login or logout. */
  types: string;
  /** EventOutcomeDescription and the non-patient objects (the account, AE, log…). */
  detail: string;
}

/** What a record's DICOM audit message says beyond its search fields, for the table. */
function summary(xml: string | null): Summary {
  if (!xml) return { types: "", detail: "" };
  const doc = new DOMParser().parseFromString(xml, "application/xml");
  const types = Array.from(doc.querySelectorAll("EventIdentification > EventTypeCode"))
    .map((el) => el.getAttribute("originalText") ?? el.getAttribute("csd-code") ?? "")
    .join(", ");
  const description =
    doc.querySelector("EventIdentification > EventOutcomeDescription")?.textContent ?? "";
  const objects = Array.from(doc.querySelectorAll("ParticipantObjectIdentification"))
    .filter((el) => el.getAttribute("ParticipantObjectTypeCodeRole") !== "1") // not the patient
    .map((el) => el.getAttribute("ParticipantObjectID") ?? "")
    .filter((id) => id && !description.includes(id));
  return { types, detail: [description, ...objects].filter(Boolean).join(" — ") };
}

export function renderAudit(main: HTMLElement): void {
  const body = page(main, tr("audit.title"));
  const patient = h("input", { id: "audit-patient", maxlength: "64" });
  const user = h("input", { id: "audit-user", maxlength: "256" });
  const event = select(
    { id: "audit-event" },
    [["", tr("any")], ...EVENTS.map((c): [string, string] => [c, `${c} ${eventName(c)}`])],
  );
  const since = h("input", { id: "audit-since", type: "datetime-local", step: "1" });
  const until = h("input", { id: "audit-until", type: "datetime-local", step: "1" });
  const size = select(
    { id: "audit-size" },
    ["25", "50", "100", "200"].map((n): [string, string] => [n, n]),
    "50",
  );
  const form = h(
    "form",
    { id: "audit-search", class: "admin-form inline", role: "search" },
    field(tr("audit.patient"), patient),
    field(tr("audit.user"), user),
    field(tr("audit.event"), event),
    field(tr("audit.since"), since),
    field(tr("audit.until"), until),
    field(tr("audit.size"), size),
    h("button", { type: "submit" }, tr("audit.search")),
  );
  const { table: tableEl, body: rows } = table("audit-table", tr("audit.caption"), [
    "audit.seq",
    "audit.time",
    "audit.event",
    "audit.types",
    "audit.action",
    "audit.outcome",
    "audit.user",
    "audit.patient",
    "audit.detail",
    "audit.message",
  ]);
  const status = h("p", { id: "audit-status", role: "status", "aria-live": "polite" });
  const prev = h("button", { type: "button", disabled: true }, tr("prev"));
  const next = h("button", { type: "button", disabled: true }, tr("next"));
  let offset = 0;

  function row(r: AuditRecord): HTMLTableRowElement {
    const about = summary(r.xml);
    return h(
      "tr",
      { "data-event": r.event_id },
      cell(String(r.seq)),
      cell(fmtTime(r.event_time)),
      cell(`${r.event_id} ${eventName(r.event_id)}`),
      cell(about.types),
      cell(r.event_action_code),
      cell(OUTCOMES[r.event_outcome_indicator] ? tr(OUTCOMES[r.event_outcome_indicator]) : ""),
      cell(r.user_id ?? ""),
      cell(r.patient_id ?? ""),
      cell(h("span", { class: "audit-detail" }, about.detail)),
      cell(
        r.xml
          ? h("details", {}, h("summary", {}, tr("audit.xml")), h("pre", {}, r.xml))
          : null,
      ),
    );
  }

  async function search(): Promise<void> {
    const limit = Number(size.value);
    status.textContent = tr("audit.searching");
    try {
      const found = await adminApi.audit(
        {
          patient: patient.value.trim(),
          user: user.value.trim(),
          event: event.value,
          since: isoOf(since.value),
          until: isoOf(until.value),
        },
        limit,
        offset,
      );
      rows.replaceChildren(...found.items.map(row));
      status.textContent = found.items.length
        ? tr("audit.range", { from: offset + 1, to: offset + found.items.length })
        : tr("audit.none");
      prev.disabled = offset === 0;
      next.disabled = found.next === null;
    } catch (exc) {
      rows.replaceChildren();
      status.replaceChildren(failure(exc));
    }
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    offset = 0;
    void search();
  });
  prev.addEventListener("click", () => {
    offset = Math.max(0, offset - Number(size.value));
    void search();
  });
  next.addEventListener("click", () => {
    offset += Number(size.value);
    void search();
  });
  body.append(
    h("p", { class: "help" }, tr("audit.help")),
    form,
    section("audit-results", tr("audit.results"), status, tableEl, h("div", { class: "pager" }, prev, next)),
  );
  void search();
}
