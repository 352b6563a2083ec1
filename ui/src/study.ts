// One study's page (#/studies/<uid>): patient and study facts, its series with thumbnails.
// The place the viewer, reports and per-role actions will hang from.
import { api, ApiError, type Series, type Study } from "./api";
import { h } from "./dom";
import { lang, t, type Key } from "./i18n";
import { formatDate, nameParts } from "./names";
import { studyReports } from "./reporting";
import { studyListHash } from "./studies";
import { studyActions } from "./study_actions";
import { studyPanels } from "./study_panels";

function facts(study: Study): HTMLElement {
  const name = nameParts(study.PatientName, lang());
  const item = (key: Key, value: string | null) =>
    value ? [h("dt", {}, t(key)), h("dd", {}, value)] : [];
  return h(
    "section",
    { class: "study-facts", "aria-labelledby": "study-title" },
    h(
      "h1",
      { id: "study-title" },
      h("span", { class: "primary", lang: "ja" }, name.primary),
      name.secondary ? h("span", { class: "reading", lang: "ja" }, name.secondary) : null,
    ),
    h(
      "dl",
      {},
      ...item("c.PatientID", study.PatientID),
      ...item("c.PatientBirthDate", formatDate(study.PatientBirthDate)),
      ...item("c.PatientSex", study.PatientSex),
      ...item("c.StudyDate", formatDate(study.StudyDate)),
      ...item("c.AccessionNumber", study.AccessionNumber),
      ...item("c.StudyDescription", study.StudyDescription),
      ...item("c.ModalitiesInStudy", study.ModalitiesInStudy.join(", ")),
    ),
  );
}

function seriesTable(study: Study, series: Series[]): HTMLElement {
  const sorted = [...series].sort((a, b) => (a.SeriesNumber ?? 1e9) - (b.SeriesNumber ?? 1e9));
  const row = (s: Series) => {
    const alt = t("s.thumbAlt", { number: s.SeriesNumber ?? "", modality: s.Modality ?? "" });
    const img = h("img", {
      src: api.seriesThumbnailUrl(study.StudyInstanceUID, s.SeriesInstanceUID),
      alt,
      width: 96,
      height: 96,
      loading: "lazy",
      class: "thumb",
    });
    img.addEventListener("error", () => img.replaceWith(h("span", { class: "no-thumb" }, t("s.noImage"))));
    return h(
      "tr",
      { "data-uid": s.SeriesInstanceUID },
      h("td", {}, img),
      h("td", { class: "num" }, s.SeriesNumber === null ? "" : String(s.SeriesNumber)),
      h("td", {}, s.Modality ?? ""),
      h("td", {}, s.SeriesDescription ?? ""),
      h("td", {}, s.BodyPartExamined ?? ""),
      h("td", { class: "num" }, String(s.NumberOfSeriesRelatedInstances)),
      h(
        "td",
        {},
        h(
          "a",
          {
            href: `#/viewer/${encodeURIComponent(study.StudyInstanceUID)}/${encodeURIComponent(s.SeriesInstanceUID)}`,
            class: "open",
            "aria-label": t("s.openLabel", { number: s.SeriesNumber ?? "", modality: s.Modality ?? "" }),
          },
          t("s.open"),
        ),
      ),
    );
  };
  const cols: Key[] = ["s.thumbnail", "s.SeriesNumber", "s.Modality", "s.SeriesDescription", "s.BodyPartExamined", "s.images", "s.open"];
  return h(
    "section",
    { "aria-labelledby": "series-title" },
    h("h2", { id: "series-title" }, t("study.series")),
    h(
      "table",
      { id: "series" },
      h("thead", {}, h("tr", {}, ...cols.map((key) => h("th", { scope: "col" }, t(key))))),
      h("tbody", {}, ...sorted.map(row)),
    ),
  );
}

export async function renderStudy(main: HTMLElement, uid: string, permissions: string[] = []): Promise<void> {
  const back = h("a", { href: studyListHash(), id: "back", class: "back" }, `← ${t("study.back")}`);
  const status = h("p", { id: "study-status", role: "status" }, t("study.loading"));
  main.replaceChildren(back, status);
  try {
    const [study, series] = await Promise.all([api.study(uid), api.series(uid)]);
    if (!main.contains(status)) return; // navigated away meanwhile
    status.remove();
    main.append(
      facts(study),
      studyActions(study, permissions),
      studyPanels(study, permissions),
      studyReports(study.StudyInstanceUID),
      seriesTable(study, series.items),
    );
    main.querySelector<HTMLElement>("#study-title")?.setAttribute("tabindex", "-1");
    main.querySelector<HTMLElement>("#study-title")?.focus();
  } catch (exc) {
    const detail = exc instanceof ApiError ? exc.message : String(exc);
    status.textContent =
      exc instanceof ApiError && exc.status === 403 ? t("denied") : t("study.failed", { detail });
    status.classList.add("error");
  }
}
