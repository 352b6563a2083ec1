// Diagnostic viewer (first slice): one series as a stack in Cornerstone3D, fed by raddx's
// WADO-RS (series metadata + frames, with the session cookie). Scroll (wheel, ↑/↓),
// window/level (left drag, CT presets), pan (middle drag), zoom (right drag).
// Cornerstone3D over dwv: maintained by the OHIF team, GPU rendering with a CPU fallback,
// streaming WADO-RS frame loading in workers, and the measurement tools (length, angle, ROI
// statistics in HU) and volume/MPR viewports the next slices need.
import {
  Enums,
  RenderingEngine,
  eventTarget,
  init as coreInit,
  setUseCPURendering,
  type Types,
} from "@cornerstonejs/core";
import { init as loaderInit, wadors } from "@cornerstonejs/dicom-image-loader";
import {
  Enums as ToolEnums,
  PanTool,
  StackScrollTool,
  ToolGroupManager,
  WindowLevelTool,
  ZoomTool,
  addTool,
  init as toolsInit,
  utilities as toolUtilities,
} from "@cornerstonejs/tools";
import { h } from "./dom";
import { api } from "./api";
import { t, type Key } from "./i18n";

type Json = Record<string, { vr: string; Value?: unknown[] }>;

let ready: Promise<void> | null = null;
function initOnce(): Promise<void> {
  ready ??= (async () => {
    const gl = document.createElement("canvas").getContext("webgl2");
    coreInit();
    if (!gl) setUseCPURendering(true);
    loaderInit({ maxWebWorkers: 2 });
    toolsInit();
    for (const tool of [WindowLevelTool, PanTool, ZoomTool, StackScrollTool]) addTool(tool);
  })();
  return ready;
}

/** CT window presets: [width, level] in HU. */
export const PRESETS: Record<string, [number, number]> = {
  lung: [1500, -600],
  mediastinum: [350, 50],
  bone: [2000, 500],
  brain: [80, 40],
};

let engine: RenderingEngine | null = null;
let stopCounting: (() => void) | null = null;

/** Free the viewer's rendering engine (its WebGL context) when another page is shown. */
export function closeViewer(): void {
  stopCounting?.();
  stopCounting = null;
  engine?.destroy();
  engine = null;
  ToolGroupManager.destroyToolGroup("raddx-stack");
}

export async function renderViewer(main: HTMLElement, study: string, series: string): Promise<void> {
  await initOnce();
  closeViewer();
  const status = h("p", { id: "viewer-status", role: "status" }, t("v.loading"));
  const element = h("div", {
    id: "viewport",
    class: "viewport",
    tabindex: 0,
    role: "img",
    "aria-label": t("v.image"),
    "aria-describedby": "viewer-help",
  });
  const presets = h("div", { class: "presets", role: "group", "aria-label": t("v.presets") });
  main.replaceChildren(
    h("a", { href: `#/studies/${encodeURIComponent(study)}`, class: "back" }, `← ${t("v.back")}`),
    presets,
    element,
    status,
    h("p", { id: "viewer-help", class: "help" }, t("v.help")),
  );
  element.addEventListener("contextmenu", (event) => event.preventDefault());
  const root = `${location.origin}/dicom-web`;
  const [response, indexed] = await Promise.all([
    fetch(`${root}/studies/${study}/series/${series}/metadata`, {
      headers: { Accept: "application/dicom+json", "X-Requested-With": "XMLHttpRequest" },
      credentials: "same-origin",
    }),
    api.instances(study, series).catch(() => []),
  ]);
  if (!response.ok) {
    status.textContent = t(response.status === 403 ? "denied" : "v.failed", { status: response.status });
    status.classList.add("error");
    return;
  }
  const instances = (await response.json()) as Json[];
  const num = (md: Json, tag: string) => Number(md[tag]?.Value?.[0] ?? 0);
  instances.sort((a, b) => num(a, "00200013") - num(b, "00200013"));
  const imageIds = instances.map((md) => {
    const sop = String(md["00080018"].Value?.[0]);
    const id = `wadors:${root}/studies/${study}/series/${series}/instances/${sop}/frames/1`;
    wadors.metaDataManager.add(id, md as never);
    return id;
  });
  engine = new RenderingEngine("raddx");
  engine.enableElement({ viewportId: "stack", type: Enums.ViewportType.STACK, element: element as HTMLDivElement });
  const viewport = engine.getViewport("stack") as Types.IStackViewport;
  const group = ToolGroupManager.createToolGroup("raddx-stack")!;
  for (const tool of [WindowLevelTool, PanTool, ZoomTool, StackScrollTool]) group.addTool(tool.toolName);
  group.addViewport("stack", "raddx");
  const B = ToolEnums.MouseBindings;
  group.setToolActive(WindowLevelTool.toolName, { bindings: [{ mouseButton: B.Primary }] });
  group.setToolActive(PanTool.toolName, { bindings: [{ mouseButton: B.Auxiliary }] });
  group.setToolActive(ZoomTool.toolName, { bindings: [{ mouseButton: B.Secondary }] });
  group.setToolActive(StackScrollTool.toolName, { bindings: [{ mouseButton: B.Wheel }] });
  // Every image of the series is fetched in the background (stack prefetch); the status line
  // counts them, so a reader knows when scrolling will not wait.
  const wanted = new Set(imageIds);
  const loadedIds = new Set<string>();
  const onLoaded = (event: Event) => {
    const id = (event as CustomEvent<{ image?: { imageId?: string } }>).detail?.image?.imageId;
    if (id && wanted.has(id) && !loadedIds.has(id)) {
      loadedIds.add(id);
      show();
    }
  };
  // An image that cannot be loaded (a broken instance) is named; the others stay viewable.
  const failed = new Set<number>();
  const failures = h("p", { id: "viewer-failures", class: "error", role: "alert" });
  status.after(failures);
  const showFailures = () => {
    failures.textContent = failed.size
      ? t("v.failedImages", {
          count: failed.size,
          numbers: [...failed].sort((a, b) => a - b).join(", "),
        })
      : "";
  };
  // Instances the index lists but the metadata left out: their stored objects are unreadable.
  const inMetadata = new Set(instances.map((md) => String(md["00080018"].Value?.[0])));
  for (const missing of indexed.filter((i) => !inMetadata.has(i.SOPInstanceUID))) {
    failed.add(missing.InstanceNumber ?? 0);
  }
  showFailures();
  const onFailed = (event: Event) => {
    const id = (event as CustomEvent<{ imageId?: string }>).detail?.imageId;
    if (!id || !wanted.has(id)) return;
    failed.add(num(instances[imageIds.indexOf(id)], "00200013") || imageIds.indexOf(id) + 1);
    showFailures();
  };
  eventTarget.addEventListener(Enums.Events.IMAGE_LOADED, onLoaded);
  eventTarget.addEventListener(Enums.Events.IMAGE_LOAD_FAILED, onFailed);
  stopCounting = () => {
    eventTarget.removeEventListener(Enums.Events.IMAGE_LOADED, onLoaded);
    eventTarget.removeEventListener(Enums.Events.IMAGE_LOAD_FAILED, onFailed);
  };
  const show = () => {
    const voi = viewport.getProperties().voiRange;
    const ww = voi ? Math.round(voi.upper - voi.lower) : 0;
    const wl = voi ? Math.round((voi.upper + voi.lower) / 2) : 0;
    status.textContent = t("v.status", {
      index: viewport.getCurrentImageIdIndex() + 1,
      count: imageIds.length,
      ww,
      wl,
      loaded: loadedIds.size,
    });
  };
  element.addEventListener(Enums.Events.STACK_NEW_IMAGE, show);
  element.addEventListener(Enums.Events.VOI_MODIFIED, show);
  element.addEventListener(Enums.Events.IMAGE_RENDERED, show);
  for (const [name, [ww, wl]] of Object.entries(PRESETS)) {
    const button = h("button", { type: "button", "data-preset": name }, t(`v.${name}` as Key));
    button.addEventListener("click", () => {
      viewport.setProperties({ voiRange: { lower: wl - ww / 2, upper: wl + ww / 2 } });
      viewport.render();
    });
    presets.append(button);
  }
  element.addEventListener("keydown", (event) => {
    const delta = event.key === "ArrowDown" ? 1 : event.key === "ArrowUp" ? -1 : 0;
    if (!delta) return;
    event.preventDefault();
    const next = Math.min(imageIds.length - 1, Math.max(0, viewport.getCurrentImageIdIndex() + delta));
    void viewport.setImageIdIndex(next);
  });
  try {
    await viewport.setStack(imageIds, Math.floor(imageIds.length / 2));
    viewport.render();
  } catch {
    // the middle image is broken: it is named above; the reader can scroll to the others
  }
  toolUtilities.stackPrefetch.enable(element);
  show();
  element.focus();
}
