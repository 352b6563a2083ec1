// The only way the UI talks to raddx: its public REST API (/api) with the browser session
// cookie (raddx_session, HttpOnly, set by POST /api/auth/login). No business logic here.

/** One entry of a validation problem's `errors` member: where (e.g. body.procedures.0.x) and why. */
export interface ProblemError {
  loc: string[];
  msg: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors: ProblemError[] = [],
  ) {
    super(message);
  }
}

/** Called when a request answers 401 (no session, or it expired). */
let onUnauthenticated: () => void = () => {};
export function setUnauthenticatedHandler(handler: () => void): void {
  onUnauthenticated = handler;
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {
    Accept: "application/json",
    // Tells raddx this is a script, not a person's browser tab: no Basic challenge on 401
    // (which would make the browser pop up its own login dialog).
    "X-Requested-With": "XMLHttpRequest",
  };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) await fail(response, path);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

/** An answer that is not 2xx as an ApiError (the problem document's detail and errors). */
async function fail(response: Response, path: string): Promise<never> {
  let detail = response.statusText;
  let errors: ProblemError[] = [];
  try {
    const problem = (await response.json()) as { detail?: unknown; errors?: unknown };
    if (typeof problem.detail === "string") detail = problem.detail;
    if (Array.isArray(problem.errors)) errors = problem.errors as ProblemError[];
  } catch {
    // not a problem document: keep the status text
  }
  if (response.status === 401 && !path.startsWith("/api/auth/login")) onUnauthenticated();
  throw new ApiError(response.status, detail, errors);
}

/**
 * GET with If-None-Match: `null` when the resource is unchanged since `etag` (304, nothing
 * sent), else its body and new ETag. For screens that poll (API answers are `no-store`, so
 * the browser's cache does not do this for us).
 */
export async function getIfChanged<T>(path: string, etag: string | null): Promise<{ body: T; etag: string | null } | null> {
  const headers: Record<string, string> = { Accept: "application/json", "X-Requested-With": "XMLHttpRequest" };
  if (etag) headers["If-None-Match"] = etag;
  const response = await fetch(path, { headers, credentials: "same-origin" });
  if (response.status === 304) return null;
  if (!response.ok) await fail(response, path);
  return { body: (await response.json()) as T, etag: response.headers.get("ETag") };
}

/** A binary answer (a report's PDF…) as a Blob, with request()'s error and 401 handling. */
export async function requestBlob(path: string, accept: string): Promise<Blob> {
  const response = await fetch(path, {
    headers: { Accept: accept, "X-Requested-With": "XMLHttpRequest" },
    credentials: "same-origin",
  });
  if (!response.ok) {
    if (response.status === 401) onUnauthenticated();
    throw new ApiError(response.status, response.statusText);
  }
  return response.blob();
}

export interface WhoAmI {
  name: string;
  role: string;
  kind: string;
  break_glass: boolean;
  mfa_enrolment_required: boolean;
  permissions: string[];
  /** The account's display name, a DICOM PN value with groups (reports are signed with it). */
  display_name?: string | null;
}

export interface PersonName {
  Alphabetic: string | null;
  Ideographic: string | null;
  Phonetic: string | null;
}

export interface Study {
  StudyInstanceUID: string;
  StudyDate: string | null;
  StudyTime: string | null;
  AccessionNumber: string | null;
  StudyID: string | null;
  StudyDescription: string | null;
  ReferringPhysicianName: PersonName | null;
  PatientID: string | null;
  PatientName: PersonName | null;
  PatientBirthDate: string | null;
  PatientSex: string | null;
  ModalitiesInStudy: string[];
  NumberOfStudyRelatedSeries: number;
  NumberOfStudyRelatedInstances: number;
  ReportStatus: "none" | "draft" | "preliminary" | "final" | "amended" | "corrected";
}

export interface Page<T> {
  items: T[];
  limit: number;
  offset: number;
  next: string | null;
  total?: number | null;
  total_exact?: boolean | null;
}

export interface Series {
  SeriesInstanceUID: string;
  StudyInstanceUID: string;
  Modality: string | null;
  SeriesNumber: number | null;
  SeriesDescription: string | null;
  SeriesDate: string | null;
  BodyPartExamined: string | null;
  NumberOfSeriesRelatedInstances: number;
}

export interface Instance {
  SOPInstanceUID: string;
  InstanceNumber: number | null;
}

export const api = {
  /** The index's instances of a series (up to 1000 per page; every page is fetched). */
  instances: async (studyUid: string, seriesUid: string) => {
    const all: Instance[] = [];
    for (let offset = 0; ; offset += 1000) {
      const query = new URLSearchParams({
        StudyInstanceUID: studyUid,
        SeriesInstanceUID: seriesUid,
        limit: "1000",
        offset: String(offset),
      });
      const page = await request<Page<Instance>>("GET", `/api/instances?${query}`);
      all.push(...page.items);
      if (!page.next) return all;
    }
  },
  study: (uid: string) => request<Study>("GET", `/api/studies/${encodeURIComponent(uid)}`),
  series: (studyUid: string) =>
    request<Page<Series>>(
      "GET",
      `/api/series?${new URLSearchParams({ StudyInstanceUID: studyUid, limit: "1000" })}`,
    ),
  /** A series thumbnail (WADO-RS, PS3.18 10.4.1.1.4), fetched by the browser with the cookie. */
  seriesThumbnailUrl: (study: string, series: string, size = 96) =>
    `/dicom-web/studies/${encodeURIComponent(study)}/series/${encodeURIComponent(series)}/thumbnail?viewport=${size},${size}`,
  whoami: () => request<WhoAmI>("GET", "/api/auth/whoami"),
  login: (name: string, password: string, otp?: string) =>
    request<WhoAmI>("POST", "/api/auth/login", { name, password, otp: otp || null }),
  logout: () => request<void>("POST", "/api/auth/logout"),
  studies: (filters: Record<string, string>, limit: number, offset: number) => {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(filters)) if (value) query.set(key, value);
    query.set("limit", String(limit));
    query.set("offset", String(offset));
    return request<Page<Study>>("GET", `/api/studies?${query}`);
  },
};
