// The archive area: the study list, a study's page and the viewer (loaded on demand).
import { t } from "./i18n";
import type { Area } from "./routes";
import { renderStudies } from "./studies";
import { renderStudy } from "./study";

let viewer: typeof import("./viewer") | null = null;

export const archiveArea: Area = {
  nav: { href: "#/studies", label: () => t("nav.studies"), permission: "archive.read" },
  leave: () => viewer?.closeViewer(),
  routes: [
    {
      pattern: /^#\/viewer\/([^/]+)\/([^/]+)$/,
      async render(main, match) {
        // The viewer (Cornerstone3D, ~1.7 MB) loads only when an image is opened.
        viewer = await import("./viewer");
        await viewer.renderViewer(main, decodeURIComponent(match[1]), decodeURIComponent(match[2]));
      },
    },
    {
      pattern: /^#\/studies\/([^/]+)$/,
      render: (main, match, principal) => renderStudy(main, decodeURIComponent(match[1]), principal.permissions),
    },
    {
      pattern: /^#\/studies(?:\?(.*))?$/,
      render: (main, match) => renderStudies(main, match[1]),
    },
  ],
};
