// Reporting (issue 10 §4): the radiologist's reading list (#/reading) and the report editor
// (#/reports/<id>, #/reports/new/<StudyInstanceUID>), on the public REST API
// (/api/reading-list, /api/reports). `studyReports` is the study page's link to them.
import "./reporting.css";
import { api } from "./api";
import { h } from "./dom";
import { leaveEditor, renderEditor, renderNewReport } from "./report_editor";
import { renderReadingList } from "./reading_list";
import { reportsApi } from "./reporting_api";
import { statusLabel, tr } from "./reporting_i18n";
import type { Area } from "./routes";

export const reportingArea: Area = {
  nav: { href: "#/reading", label: () => tr("rp.nav"), permission: "report.read" },
  leave: leaveEditor,
  routes: [
    {
      pattern: /^#\/reading\/?$/,
      render: (main, _match, principal) => renderReadingList(main, principal),
    },
    {
      pattern: /^#\/reports\/new\/([0-9.]+)$/,
      render: (main, match, principal) => renderNewReport(main, match[1], principal),
    },
    {
      pattern: /^#\/reports\/([^/]+)$/,
      render: (main, match, principal) => renderEditor(main, decodeURIComponent(match[1]), principal),
    },
  ],
};

/**
 * The reports of one study with links to open them, and "write report" for a role that may
 * write one: for the study page (`main.append(studyReports(uid))`). Fills itself in when the
 * API answers; stays empty for a role without report.read.
 */
export function studyReports(studyUid: string): HTMLElement {
  const box = h("section", { id: "study-reports", class: "study-reports", "aria-labelledby": "study-reports-title" });
  void (async () => {
    try {
      const [me, reports] = await Promise.all([api.whoami(), reportsApi.forStudy(studyUid)]);
      const links = reports.map((r) =>
        h(
          "li",
          {},
          h(
            "a",
            { href: `#/reports/${encodeURIComponent(r.report_id)}`, class: "open-report" },
            tr("sr.open", { id: r.report_id, status: statusLabel(r.status) }),
          ),
          // When and by whom (the study page lists each report's status, date and author).
          h(
            "span",
            { class: "report-meta" },
            ` ${(r.verified_at ?? r.created_at).slice(0, 10)}${r.author ? ` ${r.author}` : ""}`,
          ),
        ),
      );
      const canWrite = me.permissions.includes("report.write");
      if (!links.length && !canWrite) return;
      box.replaceChildren(
        h("h2", { id: "study-reports-title" }, tr("sr.title")),
        h(
          "ul",
          {},
          ...links,
          canWrite && !reports.some((r) => r.status === "draft" || r.status === "preliminary")
            ? h(
                "li",
                {},
                h("a", { href: `#/reports/new/${encodeURIComponent(studyUid)}`, class: "write-report" }, tr("sr.write")),
              )
            : null,
        ),
      );
    } catch {
      // No report.read (403) or no session: the study page shows no report links.
    }
  })();
  return box;
}
