// Beside the images: the study's reports (read only, public REST API /api/reports) and the key
// images the reader marks. Key images are kept in localStorage under
// ``raddx.keyImages.<StudyInstanceUID>`` as a JSON array of
// ``{"series", "sop", "sopClass", "frame"}`` (frame: number in a multi-frame instance, else
// null); the report editor (#/reports/<id>) reads that list into the report's key images.
import { h } from "./dom";
import type { ImageRef } from "./viewer_series";
import { tv, type ViewerKey } from "./viewer_text";

export interface KeyImage {
  series: string;
  sop: string;
  sopClass: string;
  frame: number | null;
}

export const keyImagesKey = (study: string): string => `raddx.keyImages.${study}`;

/** The marked images of a study (an unreadable or foreign value counts as none). */
export function readKeyImages(study: string): KeyImage[] {
  try {
    const parsed: unknown = JSON.parse(localStorage.getItem(keyImagesKey(study)) ?? "[]");
    if (!Array.isArray(parsed)) return [];
    return parsed.filter(
      (k): k is KeyImage => typeof k === "object" && k !== null && typeof k.sop === "string" && typeof k.series === "string",
    );
  } catch {
    return [];
  }
}

const same = (k: KeyImage, ref: ImageRef): boolean => k.sop === ref.sop && (k.frame ?? null) === (ref.frame ?? null);

export function isKeyImage(study: string, ref: ImageRef | null): boolean {
  return ref !== null && readKeyImages(study).some((k) => same(k, ref));
}

/** Mark or unmark ``ref``; answers whether it is marked now. */
export function toggleKeyImage(study: string, ref: ImageRef): boolean {
  const list = readKeyImages(study);
  const kept = list.filter((k) => !same(k, ref));
  const marked = kept.length === list.length;
  if (marked) kept.push({ series: ref.series, sop: ref.sop, sopClass: ref.sopClass, frame: ref.frame });
  localStorage.setItem(keyImagesKey(study), JSON.stringify(kept));
  return marked;
}

interface ReportSummary {
  report_id: string;
  status: string;
}

interface ReportRecord {
  report_id: string;
  version: number;
  status: string;
  sections?: { findings?: string; impression?: string };
  author?: { name: string } | null;
  verifier?: { name: string } | null;
}

async function getJson<T>(path: string): Promise<T> {
  const response = await fetch(path, {
    headers: { Accept: "application/json", "X-Requested-With": "XMLHttpRequest" },
    credentials: "same-origin",
  });
  if (!response.ok) {
    let detail = `HTTP ${response.status}`;
    try {
      const problem = (await response.json()) as { detail?: unknown };
      if (typeof problem.detail === "string") detail = problem.detail;
    } catch {
      // not a problem document
    }
    throw Object.assign(new Error(detail), { status: response.status });
  }
  return (await response.json()) as T;
}

const person = (p: { name: string } | null | undefined): string => (p?.name ?? "").replaceAll("^", " ").trim();

/** The collapsible report panel; fills itself from GET /api/reports?study_uid=… once
 * ``after`` settles. */
export function reportPanel(study: string, after: Promise<unknown> = Promise.resolve()): HTMLElement {
  const body = h("div", { id: "report-body", "aria-live": "polite" }, tv("r.loading"));
  const panel = h(
    "details",
    { id: "report-panel", class: "side-section", open: true },
    h("summary", {}, h("h2", {}, tv("r.title"))),
    body,
  );
  void (async () => {
    await after;
    try {
      const query = new URLSearchParams({ study_uid: study, limit: "20" });
      const summaries = await getJson<ReportSummary[]>(`/api/reports?${query}`);
      if (!summaries.length) {
        body.replaceChildren(h("p", { class: "none" }, tv("r.none")));
        return;
      }
      const records = await Promise.all(
        summaries.map((s) => getJson<ReportRecord>(`/api/reports/${encodeURIComponent(s.report_id)}?format=json`)),
      );
      body.replaceChildren(...records.map(reportView));
    } catch (exc) {
      const status = (exc as { status?: number }).status;
      body.replaceChildren(
        h("p", { class: "error" }, status === 403 ? tv("r.denied") : tv("r.failed", { detail: String((exc as Error).message) })),
      );
    }
  })();
  return panel;
}

function reportView(r: ReportRecord): HTMLElement {
  const status = tv(`st.${r.status}` as ViewerKey);
  const row = (label: string, value: string, cls: string) =>
    value ? [h("dt", {}, label), h("dd", { class: cls }, value)] : [];
  return h(
    "article",
    { class: "report", "data-report": r.report_id, "data-status": r.status },
    h(
      "dl",
      {},
      ...row(tv("r.status"), status.startsWith("st.") ? r.status : status, "status"),
      ...row(tv("r.impression"), r.sections?.impression ?? "", "impression"),
      ...row(tv("r.findings"), r.sections?.findings ?? "", "findings"),
      ...row(tv("r.author"), person(r.author), "author"),
      ...row(tv("r.verifier"), person(r.verifier), "verifier"),
    ),
    h("a", { href: `#/reports/${encodeURIComponent(r.report_id)}` }, tv("r.open", { id: r.report_id })),
  );
}

/**
 * The key-image list; ``label(k)`` names an image (series number, image index) and
 * ``go(k)`` shows it. Call ``refresh()`` after a toggle.
 */
export function keyImagePanel(
  study: string,
  label: (k: KeyImage) => string,
  go: (k: KeyImage) => void,
): { element: HTMLElement; refresh: () => void } {
  const list = h("ul", { id: "key-images", class: "key-images" });
  const element = h(
    "section",
    { class: "side-section", "aria-labelledby": "key-images-title" },
    h("h2", { id: "key-images-title" }, tv("k.title")),
    list,
  );
  const refresh = () => {
    const items = readKeyImages(study);
    list.replaceChildren();
    if (!items.length) list.append(h("li", { class: "none" }, tv("k.none")));
    for (const k of items) {
      const link = h("button", { type: "button", class: "link", "data-sop": k.sop }, label(k));
      link.addEventListener("click", () => go(k));
      list.append(h("li", {}, link));
    }
  };
  refresh();
  return { element, refresh };
}
