// The worklist area's calls to the public API: /api/worklist (scheduled procedure steps),
// /api/orders (place, cancel), /api/jj1017 (the procedure master) and FHIR Patient (a patient
// the RIS or the archive already knows, by ID). No rules here: the API decides.
import { getIfChanged, request, type PersonName } from "./api";

/** One scheduled procedure step (a Modality Worklist item) with its order and patient. */
export interface WorklistStep {
  ScheduledProcedureStepID: string;
  ScheduledProcedureStepStatus: string;
  Modality: string;
  ScheduledStationAETitle: string | null;
  ScheduledStationName: string | null;
  ScheduledProcedureStepStartDate: string;
  ScheduledProcedureStepStartTime: string;
  ScheduledProcedureStepDescription: string | null;
  RequestedProcedureID: string;
  RequestedProcedurePriority: string;
  StudyInstanceUID: string;
  jj1017_code: string | null;
  procedure_name: string | null;
  procedure_name_kana: string | null;
  AccessionNumber: string;
  order_status: string;
  PatientID: string;
  /** A DICOM PN value: alphabetic=ideographic=phonetic groups. */
  PatientName: string | null;
}

export interface WorklistFilters {
  /** YYYYMMDD */
  date: string;
  modality: string;
  station: string;
  stationName: string;
}

export interface ProcedureIn {
  modality: string;
  scheduled_start_date: string;
  scheduled_start_time: string;
  jj1017_code: string | null;
  description: string | null;
  scheduled_station_ae_title: string | null;
  scheduled_station_name: string | null;
}

export interface OrderIn {
  patient_id: string;
  patient_name: string | null;
  patient_birth_date: string | null;
  patient_sex: string | null;
  priority: string;
  requesting_physician: string | null;
  requesting_service: string | null;
  reason: string | null;
  procedures: ProcedureIn[];
}

export interface OrderOut {
  accession_number: string;
  status: string;
  patient_id: string;
  steps: { scheduled_procedure_step_id: string; scheduled_start_date: string }[];
}

export interface Jj1017Code {
  code: string;
  name: string;
  name_kana: string | null;
  name_english: string | null;
  modality: string | null;
}

/** A patient found by ID: name groups, birth date (YYYYMMDD), sex (M/F/O). */
export interface KnownPatient {
  id: string;
  name: PersonName;
  birthDate: string | null;
  sex: string | null;
}

/** PS3.5 6.2: a PN value's groups (alphabetic=ideographic=phonetic). */
export function personName(value: string | null): PersonName | null {
  if (!value) return null;
  const [alpha, ideo, kana] = value.split("=");
  return { Alphabetic: alpha || null, Ideographic: ideo || null, Phonetic: kana || null };
}

/** A PN value from family/given names per group; empty trailing groups are left out. */
export function pnValue(groups: [string, string][]): string | null {
  const parts = groups.map(([family, given]) => {
    const f = family.trim();
    const g = given.trim();
    return g ? `${f}^${g}` : f;
  });
  while (parts.length && !parts[parts.length - 1]) parts.pop();
  return parts.length ? parts.join("=") : null;
}

interface FhirName {
  family?: string;
  given?: string[];
  extension?: { url: string; valueCode?: string }[];
}

interface FhirPatient {
  id: string;
  name?: FhirName[];
  birthDate?: string;
  gender?: string;
}

const GENDER: Record<string, string> = { male: "M", female: "F", other: "O" };

function fhirGroups(names: FhirName[]): PersonName {
  const out: PersonName = { Alphabetic: null, Ideographic: null, Phonetic: null };
  for (const n of names) {
    const use = n.extension?.find((e) => e.url.endsWith("iso21090-EN-representation"))?.valueCode;
    const value = [n.family ?? "", ...(n.given ?? [])].join("^").replace(/\^+$/, "");
    if (use === "IDE") out.Ideographic = value;
    else if (use === "SYL") out.Phonetic = value;
    else out.Alphabetic = value;
  }
  return out;
}

export const worklistApi = {
  /** One day's steps; `null` when unchanged since `etag` (the API answers 304). */
  steps: (f: WorklistFilters, etag: string | null) => {
    const query = new URLSearchParams({ date_from: f.date, date_to: f.date, limit: "1000" });
    if (f.modality) query.set("modality", f.modality);
    if (f.station) query.set("station", f.station);
    if (f.stationName) query.set("station_name", f.stationName);
    return getIfChanged<WorklistStep[]>(`/api/worklist?${query}`, etag);
  },
  placeOrder: (order: OrderIn) => request<OrderOut>("POST", "/api/orders", order),
  cancelOrder: (accession: string) =>
    request<OrderOut>("POST", `/api/orders/${encodeURIComponent(accession)}/cancel`),
  cancelStep: (spsId: string) =>
    request<WorklistStep>("POST", `/api/worklist/${encodeURIComponent(spsId)}/cancel`),
  jj1017: async (text: string, validOn: string) => {
    const query = new URLSearchParams({ q: text, limit: "20" });
    if (/^\d{8}$/.test(validOn)) query.set("valid_on", validOn);
    return (await request<{ total: number; items: Jj1017Code[] }>("GET", `/api/jj1017?${query}`)).items;
  },
  /** The patient with this PatientID (RIS or archive; FHIR Patient search), or null. */
  patient: async (patientId: string): Promise<KnownPatient | null> => {
    const query = new URLSearchParams({ identifier: patientId, _count: "1" });
    const bundle = await request<{ entry?: { resource: FhirPatient }[] }>("GET", `/fhir/Patient?${query}`);
    const found = bundle.entry?.[0]?.resource;
    if (!found) return null;
    return {
      id: patientId,
      name: fhirGroups(found.name ?? []),
      birthDate: found.birthDate ? found.birthDate.replaceAll("-", "") : null,
      sex: found.gender ? GENDER[found.gender] ?? null : null,
    };
  },
};
