// The viewer's left-button tools and measurements, all Cornerstone3D tools (no measuring code
// of ours): window/level, length, angle, elliptical ROI (mean/SD/min/max in the modality's
// unit, HU for CT: the loader applies Rescale Slope/Intercept before the tool reads pixels,
// area in mm² from Pixel Spacing), pan, zoom. The measurements are listed as text beside the
// image, each with a delete button, and can all be cleared.
import {
  AngleTool,
  EllipticalROITool,
  Enums as ToolEnums,
  LengthTool,
  PanTool,
  StackScrollTool,
  ToolGroupManager,
  WindowLevelTool,
  ZoomTool,
  addTool,
  annotation,
  type Types as ToolTypes,
} from "@cornerstonejs/tools";
import { eventTarget } from "@cornerstonejs/core";
import { h } from "./dom";
import { tv, type ViewerKey } from "./viewer_text";

export const GROUP = "raddx-viewer";
const MEASURING = [LengthTool, AngleTool, EllipticalROITool] as const;
/** The left-button tools, in toolbar order, with their keyboard shortcut. */
export const TOOLS = [
  [WindowLevelTool, "w"],
  [LengthTool, "l"],
  [AngleTool, "a"],
  [EllipticalROITool, "r"],
  [PanTool, "m"],
  [ZoomTool, "z"],
] as const;

let added = false;
/** Register the tools with Cornerstone once per page load. */
export function addTools(): void {
  if (added) return;
  for (const [tool] of TOOLS) addTool(tool);
  addTool(StackScrollTool);
  added = true;
}

/** A tool group for the viewer's viewports: W/L on the left button, pan middle, zoom right. */
export function createGroup(): ToolTypes.IToolGroup {
  ToolGroupManager.destroyToolGroup(GROUP);
  const group = ToolGroupManager.createToolGroup(GROUP)!;
  for (const [tool] of TOOLS) group.addTool(tool.toolName);
  group.addTool(StackScrollTool.toolName);
  const B = ToolEnums.MouseBindings;
  group.setToolActive(WindowLevelTool.toolName, { bindings: [{ mouseButton: B.Primary }] });
  group.setToolActive(PanTool.toolName, { bindings: [{ mouseButton: B.Auxiliary }] });
  group.setToolActive(ZoomTool.toolName, { bindings: [{ mouseButton: B.Secondary }] });
  group.setToolActive(StackScrollTool.toolName, { bindings: [{ mouseButton: B.Wheel }] });
  for (const tool of MEASURING) group.setToolPassive(tool.toolName);
  return group;
}

/** The toolbar: one toggle button per tool (aria-pressed on the active one). */
export function toolbar(group: ToolTypes.IToolGroup): {
  element: HTMLElement;
  choose: (toolName: string) => void;
  byKey: (key: string) => string | null;
} {
  const element = h("div", { class: "toolbar", role: "toolbar", "aria-label": tv("tool.group") });
  let active: string = WindowLevelTool.toolName;
  const buttons = new Map<string, HTMLButtonElement>();
  const choose = (toolName: string) => {
    if (toolName === active) return;
    group.setToolPassive(active);
    group.setToolActive(toolName, { bindings: [{ mouseButton: ToolEnums.MouseBindings.Primary }] });
    active = toolName;
    for (const [name, button] of buttons) button.setAttribute("aria-pressed", String(name === active));
  };
  for (const [tool, key] of TOOLS) {
    const button = h(
      "button",
      {
        type: "button",
        "data-tool": tool.toolName,
        "aria-pressed": String(tool.toolName === active),
        "aria-keyshortcuts": key.toUpperCase(),
        title: tv("tool.keys", { key: key.toUpperCase() }),
      },
      tv(`tool.${tool.toolName}` as ViewerKey),
    ) as HTMLButtonElement;
    button.addEventListener("click", () => choose(tool.toolName));
    buttons.set(tool.toolName, button);
    element.append(button);
  }
  const byKey = (key: string) => TOOLS.find(([, k]) => k === key.toLowerCase())?.[0].toolName ?? null;
  return { element, choose, byKey };
}

type Stats = Record<string, number | string | null | undefined>;

const fixed = (value: unknown, digits = 1): string =>
  typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : "–";

/** One measurement as text, and its main number (for checks and screen readers). */
export function describe(toolName: string, stats: Stats | undefined): { text: string; value: number | null } {
  if (!stats) return { text: tv("m.pending"), value: null };
  if (toolName === LengthTool.toolName) {
    const length = typeof stats.length === "number" ? stats.length : null;
    const key = stats.unit === "mm" ? "m.length" : "m.lengthPx";
    return length === null ? { text: tv("m.pending"), value: null } : { text: tv(key, { value: fixed(length) }), value: length };
  }
  if (toolName === AngleTool.toolName) {
    const angle = typeof stats.angle === "number" ? stats.angle : null;
    return angle === null ? { text: tv("m.pending"), value: null } : { text: tv("m.angle", { value: fixed(angle) }), value: angle };
  }
  const mean = typeof stats.mean === "number" ? stats.mean : null;
  if (mean === null) return { text: tv("m.pending"), value: null };
  return {
    text: tv("m.roi", {
      mean: fixed(mean),
      unit: String(stats.modalityUnit ?? ""),
      sd: fixed(stats.stdDev),
      min: fixed(stats.min),
      max: fixed(stats.max),
      area: fixed(stats.area),
    }),
    value: mean,
  };
}

/**
 * The measurement list: redrawn whenever an annotation is added, changed or removed.
 * ``where(imageId)`` names the image a measurement was drawn on; ``rerender`` redraws the
 * viewports after a deletion.
 */
export function measurementPanel(
  where: (imageId: string) => string,
  rerender: () => void,
): { element: HTMLElement; watch: (viewportElement: HTMLElement) => void; stop: () => void } {
  const list = h("ol", { id: "measurements", class: "measurements" });
  const clear = h("button", { type: "button", id: "measurements-clear" }, tv("m.clear"));
  const element = h(
    "section",
    { class: "side-section", "aria-labelledby": "measurements-title" },
    h("h2", { id: "measurements-title" }, tv("m.title")),
    list,
    clear,
  );
  const names = new Set<string>(MEASURING.map((tool) => tool.toolName));
  let shown = "";
  const draw = () => {
    const items = annotation.state
      .getAllAnnotations()
      .filter((a) => names.has(a.metadata?.toolName ?? "") && a.annotationUID);
    const texts = items.map((a) => {
      const stats = Object.values((a.data as { cachedStats?: Record<string, Stats> }).cachedStats ?? {})[0];
      return describe(a.metadata?.toolName ?? "", stats);
    });
    // Redrawn only when something changed (it is called on every render of the images).
    const signature = JSON.stringify([items.map((a) => a.annotationUID), texts]);
    if (signature === shown) return;
    shown = signature;
    list.replaceChildren();
    if (!items.length) list.append(h("li", { class: "none" }, tv("m.none")));
    items.forEach((a, i) => {
      const toolName = a.metadata?.toolName ?? "";
      const { text, value } = texts[i];
      const remove = h(
        "button",
        { type: "button", class: "delete", "aria-label": tv("m.deleteLabel", { n: i + 1 }) },
        tv("m.delete"),
      );
      remove.addEventListener("click", () => {
        annotation.state.removeAnnotation(a.annotationUID!);
        rerender();
        draw();
      });
      list.append(
        h(
          "li",
          {
            class: "measurement",
            "data-tool": toolName,
            "data-value": value === null ? null : String(value),
          },
          h("span", { class: "text" }, text),
          " ",
          h("span", { class: "where" }, `(${where(a.metadata?.referencedImageId ?? "")})`),
          " ",
          remove,
        ),
      );
    });
    clear.disabled = !items.length;
  };
  clear.addEventListener("click", () => {
    annotation.state.removeAllAnnotations();
    rerender();
    draw();
  });
  // Stats are computed while drawing, throttled: the last computation of a drag may come
  // after the last ANNOTATION_MODIFIED, so the list also follows each annotation render.
  const E = ToolEnums.Events;
  const events = [E.ANNOTATION_COMPLETED, E.ANNOTATION_MODIFIED, E.ANNOTATION_REMOVED];
  let pending = 0;
  const soon = () => {
    if (!pending) pending = window.setTimeout(() => ((pending = 0), draw()), 50);
  };
  for (const name of events) eventTarget.addEventListener(name, soon);
  const watched: HTMLElement[] = [];
  const watch = (viewportElement: HTMLElement) => {
    viewportElement.addEventListener(E.ANNOTATION_RENDERED, soon);
    watched.push(viewportElement);
  };
  draw();
  return {
    element,
    watch,
    stop: () => {
      window.clearTimeout(pending);
      for (const name of events) eventTarget.removeEventListener(name, soon);
      for (const el of watched) el.removeEventListener(E.ANNOTATION_RENDERED, soon);
      annotation.state.removeAllAnnotations();
    },
  };
}
