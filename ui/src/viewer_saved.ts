// Measurements kept with the study: "Save to study" files the viewer's new measurements as a
// DICOM Measurement Report (TID 1500) through POST /api/studies/{uid}/measurements; opening
// the study again lists the saved reports (who, when) and draws their measurements back on
// the images as Cornerstone3D annotations (Tool.hydrate), which recompute their numbers.
//
// Points travel in image coordinates [column, row] with the origin at the top-left corner of
// the top-left pixel: DICOM SCOORD's convention and Cornerstone3D's worldToImageCoords'.
import { Enums as CoreEnums, eventTarget, utilities as coreUtils, type Types as CoreTypes } from "@cornerstonejs/core";
import { AngleTool, EllipticalROITool, LengthTool, annotation } from "@cornerstonejs/tools";
import { request } from "./api";
import { h } from "./dom";
import { tv } from "./viewer_text";

type Kind = "length" | "angle" | "ellipse";

export interface SavedMeasurement {
  kind: Kind;
  sop_instance_uid: string;
  frame: number | null;
  points: [number, number][];
  value: number;
  unit: "HU" | "";
  mean?: number | null;
  sd?: number | null;
  min?: number | null;
  max?: number | null;
  label?: string | null;
}

export interface SavedSet {
  sop_instance_uid: string;
  observer: string | null;
  saved_at: string | null;
  measurements: SavedMeasurement[];
}

/** Where an image is shown: its imageId and the viewport it is in (when loaded). */
export interface Located {
  imageId: string;
  viewportId: string;
}

const TOOL_OF: Record<Kind, { toolName: string; hydrate: (...args: never[]) => void }> = {
  length: LengthTool as never,
  angle: AngleTool as never,
  ellipse: EllipticalROITool as never,
};
const KIND_OF: Record<string, Kind> = Object.fromEntries(
  (Object.entries(TOOL_OF) as [Kind, { toolName: string }][]).map(([kind, tool]) => [tool.toolName, kind]),
);

const dist = (a: number[], b: number[]) => Math.hypot(a[0] - b[0], a[1] - b[1]);

/** Cornerstone's ellipse handles [bottom, top, left, right] → DICOM's ELLIPSE: major axis first. */
function ellipseToDicom(p: number[][]): number[][] {
  return dist(p[0], p[1]) >= dist(p[2], p[3]) ? p : [p[2], p[3], p[0], p[1]];
}

/** DICOM's ELLIPSE (two axes, any order) → Cornerstone's [bottom, top, left, right]. */
function ellipseToHandles(p: number[][]): number[][] {
  const verticalFirst = Math.abs(p[0][1] - p[1][1]) >= Math.abs(p[2][1] - p[3][1]);
  const [v, hz] = verticalFirst ? [[p[0], p[1]], [p[2], p[3]]] : [[p[2], p[3]], [p[0], p[1]]];
  const [bottom, top] = v[0][1] >= v[1][1] ? v : [v[1], v[0]];
  const [left, right] = hz[0][0] <= hz[1][0] ? hz : [hz[1], hz[0]];
  return [bottom, top, left, right];
}

const measurementsApi = {
  list: (study: string) => request<SavedSet[]>("GET", `/api/studies/${encodeURIComponent(study)}/measurements`),
  save: (study: string, measurements: SavedMeasurement[]) =>
    request<{ sop_instance_uid: string }>("POST", `/api/studies/${encodeURIComponent(study)}/measurements`, {
      measurements,
    }),
};

type Stats = Record<string, unknown>;
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** The viewer's new (not yet saved) annotations as the API's measurements; those without
 * millimetres (an image without Pixel Spacing) cannot be filed and are counted apart. */
function unsaved(locate: (imageId: string) => { sop: string; frame: number | null } | null): {
  ready: SavedMeasurement[];
  skipped: number;
  uids: string[];
} {
  const ready: SavedMeasurement[] = [];
  const uids: string[] = [];
  let skipped = 0;
  for (const a of annotation.state.getAllAnnotations()) {
    const kind = KIND_OF[a.metadata?.toolName ?? ""];
    const imageId = a.metadata?.referencedImageId;
    if (!kind || !imageId || (a.metadata as unknown as Record<string, unknown>).raddxSaved) continue;
    const where = locate(imageId);
    const stats = Object.values((a.data as { cachedStats?: Record<string, Stats> }).cachedStats ?? {})[0];
    const world = (a.data as { handles?: { points?: CoreTypes.Point3[] } }).handles?.points ?? [];
    if (!where || !stats || world.length < 2) {
      skipped += 1;
      continue;
    }
    let points = world.map((p) => coreUtils.worldToImageCoords(imageId, p) as number[]);
    const base = { kind, sop_instance_uid: where.sop, frame: where.frame, unit: "" as const };
    let m: SavedMeasurement | null = null;
    if (kind === "length" && stats.unit === "mm" && num(stats.length) !== null) {
      m = { ...base, points: points as [number, number][], value: num(stats.length)! };
    } else if (kind === "angle" && num(stats.angle) !== null) {
      m = { ...base, points: points as [number, number][], value: num(stats.angle)! };
    } else if (kind === "ellipse" && num(stats.area) !== null && stats.areaUnit !== "px²") {
      points = ellipseToDicom(points);
      m = {
        ...base,
        points: points as [number, number][],
        value: num(stats.area)!,
        unit: stats.modalityUnit === "HU" ? "HU" : "",
        mean: num(stats.mean),
        sd: num(stats.stdDev),
        min: num(stats.min),
        max: num(stats.max),
      };
    }
    if (m && m.points.every((p) => p[0] >= 0 && p[1] >= 0)) {
      ready.push(m);
      uids.push(a.annotationUID!);
    } else {
      skipped += 1;
    }
  }
  return { ready, skipped, uids };
}

/**
 * The "saved measurements" part of the measurement panel. ``locate`` names the stored image
 * (SOP Instance UID, frame) an imageId shows; ``find`` the imageId and viewport showing a
 * stored image, when one of the panes has it loaded. ``draw()`` is called again whenever a
 * pane has loaded a series.
 */
export function savedMeasurements(opts: {
  study: string;
  canSave: boolean;
  locate: (imageId: string) => { sop: string; frame: number | null } | null;
  find: (sop: string, frame: number | null) => Located | null;
}): { element: HTMLElement; draw: () => void; stop: () => void } {
  const status = h("p", { id: "measurements-status", role: "status", class: "notice" });
  const list = h("ul", { id: "saved-measurements", class: "saved" });
  const save = h("button", { type: "button", id: "measurements-save" }, tv("s.save"));
  save.hidden = !opts.canSave;
  const element = h(
    "div",
    { class: "saved-measurements" },
    save,
    status,
    h("h3", {}, tv("s.title")),
    list,
  );
  let sets: SavedSet[] = [];
  const drawn = new Set<string>();

  const draw = () => {
    for (const set of sets) {
      set.measurements.forEach((m, i) => {
        const key = `${set.sop_instance_uid}/${i}`;
        if (drawn.has(key)) return;
        const found = opts.find(m.sop_instance_uid, m.frame);
        if (!found) return;
        const image = m.kind === "ellipse" ? ellipseToHandles(m.points) : m.points;
        let world: CoreTypes.Point3[];
        try {
          world = image.map((p) => coreUtils.imageToWorldCoords(found.imageId, p as CoreTypes.Point2) as CoreTypes.Point3);
          if (world.some((p) => !p)) return;
        } catch {
          return; // the image's geometry is not loaded yet: drawn when it is (IMAGE_LOADED)
        }
        TOOL_OF[m.kind].hydrate(
          ...([found.viewportId, world, { referencedImageId: found.imageId, raddxSaved: set.sop_instance_uid }] as never[]),
        );
        drawn.add(key);
      });
    }
  };

  const show = () => {
    list.replaceChildren();
    if (!sets.length) list.append(h("li", { class: "none" }, tv("s.none")));
    for (const set of sets) {
      const when = set.saved_at ? `${set.saved_at.slice(0, 4)}-${set.saved_at.slice(4, 6)}-${set.saved_at.slice(6, 8)} ${set.saved_at.slice(8, 10)}:${set.saved_at.slice(10, 12)}` : "";
      list.append(
        h(
          "li",
          { "data-sop": set.sop_instance_uid },
          tv("s.item", { n: set.measurements.length, who: set.observer ?? "?", when }),
        ),
      );
    }
  };

  const load = async () => {
    try {
      sets = await measurementsApi.list(opts.study);
      show();
      draw();
    } catch {
      status.textContent = tv("s.loadFailed");
    }
  };

  save.addEventListener("click", async () => {
    const { ready, skipped, uids } = unsaved(opts.locate);
    status.className = "notice";
    if (!ready.length) {
      status.textContent = tv("s.nothing");
      return;
    }
    save.disabled = true;
    try {
      const saved = await measurementsApi.save(opts.study, ready);
      // The saved ones now belong to that report: not filed again by the next save.
      for (const uid of uids) {
        const a = annotation.state.getAnnotation(uid);
        if (a) (a.metadata as unknown as Record<string, unknown>).raddxSaved = saved.sop_instance_uid;
      }
      status.className = "notice ok";
      status.textContent = skipped ? tv("s.savedSome", { n: ready.length, skipped }) : tv("s.saved", { n: ready.length });
      sets = await measurementsApi.list(opts.study);
      for (let i = 0; i < ready.length; i++) drawn.add(`${saved.sop_instance_uid}/${i}`);
      show();
    } catch (exc) {
      status.className = "notice error";
      status.textContent = tv("s.failed", { reason: exc instanceof Error ? exc.message : String(exc) });
    } finally {
      save.disabled = false;
    }
  });
  let pending = 0;
  const soon = () => {
    if (!pending) pending = window.setTimeout(() => ((pending = 0), draw()), 100);
  };
  eventTarget.addEventListener(CoreEnums.Events.IMAGE_LOADED, soon);
  void load();
  return {
    element,
    draw,
    stop: () => {
      window.clearTimeout(pending);
      eventTarget.removeEventListener(CoreEnums.Events.IMAGE_LOADED, soon);
    },
  };
}
