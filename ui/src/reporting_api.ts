// The reporting area's calls of the public REST API: /api/reading-list and /api/reports
// (issue 7 §2, issue 10 §4). Types mirror the report record's JSON (raddx.reports.record).
import { request, requestBlob, type Page, type PersonName } from "./api";

export type ReadingStatus = "unreported" | "draft" | "preliminary" | "reported";

export interface ReadingItem {
  StudyInstanceUID: string;
  StudyDate: string | null;
  StudyTime: string | null;
  AccessionNumber: string | null;
  StudyDescription: string | null;
  ModalitiesInStudy: string[];
  NumberOfStudyRelatedInstances: number;
  PatientID: string;
  PatientName: PersonName | null;
  PatientBirthDate: string | null;
  PatientSex: string | null;
  priority: string | null;
  status: ReadingStatus;
  report_id: string | null;
  report_status: string | null;
  report_author: string | null;
}

export interface ReportPerson {
  name: string;
  id: string;
}

export const SECTION_NAMES = [
  "findings",
  "impression",
  "clinical_info",
  "history",
  "technique",
  "comparison",
  "recommendation",
] as const;
export type SectionName = (typeof SECTION_NAMES)[number];
export type Sections = Record<SectionName, string>;

export interface KeyImageRef {
  study_uid: string;
  series_uid: string;
  sop_uid: string;
  sop_class_uid: string;
  frame: number | null;
  comment: string;
}

export interface ReportRecord {
  report_id: string;
  version: number;
  status: string;
  patient: {
    patient_id: string;
    issuer: string;
    name_kanji: string;
    name_kana: string;
    name_alpha: string;
    birth_date: string | null;
    sex: string;
  };
  created_at: string;
  order: { accession_no: string; procedure_name: string; referring_physician: string };
  studies: { study_uid: string; modalities: string[]; study_datetime: string | null }[];
  sections: Sections;
  key_images: KeyImageRef[];
  addenda: { text: string; author: ReportPerson; created_at: string }[];
  author: ReportPerson | null;
  verifier: ReportPerson | null;
  verified_at: string | null;
  content_sha256: string | null;
  /** Digest of the stored content (in PATCH/POST answers): sent back as base_revision. */
  revision?: string;
}

export interface ReportSummary {
  report_id: string;
  version: number;
  status: string;
  study_uids: string[];
  created_at: string;
  verified_at: string | null;
  author: string | null;
  verifier: string | null;
  /** In GET /versions entries: the version's revision (see ReportRecord.revision). */
  revision?: string;
}

const path = (id: string) => `/api/reports/${encodeURIComponent(id)}`;

export const reportsApi = {
  readingList: (filters: Record<string, string | string[]>, limit: number, offset: number) => {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(filters)) {
      for (const v of Array.isArray(value) ? value : [value]) if (v) query.append(key, v);
    }
    query.set("limit", String(limit));
    query.set("offset", String(offset));
    return request<Page<ReadingItem>>("GET", `/api/reading-list?${query}`);
  },
  forStudy: (studyUid: string) =>
    request<ReportSummary[]>("GET", `/api/reports?${new URLSearchParams({ study_uid: studyUid })}`),
  createForStudy: (studyUid: string, author: ReportPerson) =>
    request<ReportRecord>("POST", "/api/reports/from-study", { study_uid: studyUid, author }),
  get: (id: string) => request<ReportRecord>("GET", path(id)),
  versions: (id: string) => request<ReportSummary[]>("GET", `${path(id)}/versions`),
  /** ``baseRevision``: the revision the change was made on; 409 if the draft was saved by
   * someone else (or another tab) since. */
  edit: (id: string, changes: { sections?: Partial<Sections>; key_images?: KeyImageRef[] }, baseRevision?: string | null) =>
    request<ReportRecord>("PATCH", path(id), baseRevision ? { ...changes, base_revision: baseRevision } : changes),
  submit: (id: string, author: ReportPerson, baseRevision?: string | null) =>
    request<ReportRecord>("POST", `${path(id)}/preliminary`, { author, base_revision: baseRevision ?? undefined }),
  /** Withdraw a report that was never signed (the study is unreported again). */
  cancel: (id: string) => request<ReportRecord>("POST", `${path(id)}/cancel`, {}),
  /** ``baseRevision``: the text on screen; 409 if someone saved another text since. */
  finalise: (id: string, verifier: ReportPerson, baseRevision?: string | null) =>
    request<ReportRecord>("POST", `${path(id)}/final`, { verifier, base_revision: baseRevision ?? undefined }),
  amend: (
    id: string,
    verifier: ReportPerson,
    changes: { sections?: Partial<Sections>; key_images?: KeyImageRef[] },
  ) => request<ReportRecord>("POST", `${path(id)}/amendments`, { verifier, ...changes }),
  addendum: (id: string, text: string, person: ReportPerson) =>
    request<ReportRecord>("POST", `${path(id)}/addenda`, { text, author: person, verifier: person }),
  /** The PDF rendering as a Blob: the preview shows it from a blob: URL, because the
   * server forbids framing its own responses (X-Frame-Options DENY, against clickjacking). */
  pdf: (id: string, version: number) => requestBlob(`${path(id)}?format=pdf&version=${version}`, "application/pdf"),
  /** The PDF rendering (GET /api/reports/{id}?format=pdf), to open in a tab. */
  pdfUrl: (id: string, version?: number) =>
    `${path(id)}?format=pdf${version ? `&version=${version}` : ""}`,
};
