// The diagnostic viewer: one or two series of a study side by side (Cornerstone3D stack
// viewports fed by raddx's WADO-RS with the session cookie), the left-button tools and
// measurements (viewer_tools.ts), cine, window presets, the study's reports and the key
// images beside the images (viewer_side.ts).
// Cornerstone3D over dwv: maintained by the OHIF team, GPU rendering with a CPU fallback,
// streaming WADO-RS frame loading in workers, and the measurement tools (length, angle, ROI
// statistics in HU) and volume/MPR viewports the next slices need.
import {
  RenderingEngine,
  cache,
  init as coreInit,
  setUseCPURendering,
} from "@cornerstonejs/core";
import { init as loaderInit } from "@cornerstonejs/dicom-image-loader";
import { ToolGroupManager, init as toolsInit } from "@cornerstonejs/tools";
import { api, type Series } from "./api";
import { h } from "./dom";
import { t, type Key } from "./i18n";
import { Pane } from "./viewer_pane";
import { openSeries } from "./viewer_series";
import { registerStreamLoader } from "./viewer_bulk";
import { isKeyImage, keyImagePanel, reportPanel, toggleKeyImage, type KeyImage } from "./viewer_side";
import { GROUP, addTools, createGroup, measurementPanel, toolbar } from "./viewer_tools";
import { savedMeasurements } from "./viewer_saved";
import { tv } from "./viewer_text";
import "./viewer.css";

let ready: Promise<void> | null = null;
function initOnce(): Promise<void> {
  ready ??= (async () => {
    const gl = document.createElement("canvas").getContext("webgl2");
    coreInit();
    if (!gl) setUseCPURendering(true);
    loaderInit({ maxWebWorkers: 2 });
    registerStreamLoader();
    toolsInit();
    addTools();
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

/** Objects without images to display: left out of the series pickers. */
const NOT_IMAGES = new Set(["SR", "KO", "PR", "DOC"]);

let engine: RenderingEngine | null = null;
let cleanups: (() => void)[] = [];

/** Free the viewer's rendering engine (its WebGL context) when another page is shown. */
export function closeViewer(): void {
  for (const cleanup of cleanups.splice(0)) cleanup();
  engine?.destroy();
  engine = null;
  ToolGroupManager.destroyToolGroup(GROUP);
}

export async function renderViewer(main: HTMLElement, study: string, series: string): Promise<void> {
  // The first image's requests go out before Cornerstone's set-up (~0.1 s of script); the
  // study's series list and reports wait until that image's metadata is in, so the server
  // answers the first image first.
  const firstStack = openSeries(study, series);
  const firstIn = firstStack.first.catch(() => null);
  await initOnce();
  closeViewer();
  let seriesList: Series[] = [{ SeriesInstanceUID: series, StudyInstanceUID: study } as Series];
  const listed = firstIn
    .then(() => api.series(study))
    .then(
      (page) => page.items.filter((s) => !NOT_IMAGES.has(s.Modality ?? "")),
      () => [] as Series[],
    );
  const seriesNumber = (uid: string) => {
    const s = seriesList.find((x) => x.SeriesInstanceUID === uid);
    return s?.SeriesNumber ?? s?.SeriesDescription ?? "?";
  };

  engine = new RenderingEngine("raddx");
  const group = createGroup();
  const panes: Pane[] = [new Pane(1, engine, study, seriesList)];
  let active = panes[0];
  let layout: "1x1" | "1x2" = "1x1";

  // --- the bar: tools, presets, cine, layout, key image --------------------------------------
  const tools = toolbar(group);
  const presets = h("div", { class: "presets", role: "group", "aria-label": t("v.presets") });
  for (const [name, [ww, wl]] of Object.entries(PRESETS)) {
    const button = h("button", { type: "button", "data-preset": name }, t(`v.${name}` as Key));
    button.addEventListener("click", () => active.setWindow(ww, wl));
    presets.append(button);
  }
  const play = h("button", { type: "button", id: "cine-play", "aria-pressed": "false", "aria-keyshortcuts": "P" }, tv("cine.play"));
  const fps = h("input", { id: "cine-fps", type: "number", min: 1, max: 60, step: 1, value: 10 }) as HTMLInputElement;
  const cine = h(
    "div",
    { class: "cine", role: "group", "aria-label": tv("cine.group") },
    play,
    h("label", { for: "cine-fps" }, tv("cine.fps")),
    fps,
  );
  const showCine = () => {
    const playing = active.playing;
    play.textContent = playing ? tv("cine.pause") : tv("cine.play");
    play.setAttribute("aria-pressed", String(playing));
  };
  const rate = () => Math.min(60, Math.max(1, Math.round(Number(fps.value) || 10)));
  const toggleCine = () => {
    if (active.playing) active.stopCine();
    else active.playCine(rate());
    showCine();
  };
  play.addEventListener("click", toggleCine);
  fps.addEventListener("change", () => {
    fps.value = String(rate());
    if (active.playing) active.playCine(rate()); // restarts at the new rate
  });

  const layoutPicker = h(
    "select",
    { id: "layout" },
    h("option", { value: "1x1" }, tv("layout.1x1")),
    h("option", { value: "1x2" }, tv("layout.1x2")),
  ) as HTMLSelectElement;
  const sync = h("input", { type: "checkbox", id: "sync-scroll" }) as HTMLInputElement;
  const layoutGroup = h(
    "div",
    { class: "layout" },
    h("label", { for: "layout" }, tv("layout.label")),
    layoutPicker,
    h("label", { class: "check" }, sync, tv("layout.sync")),
  );
  const keyButton = h(
    "button",
    { type: "button", id: "key-image", "aria-pressed": "false", "aria-keyshortcuts": "K" },
    `★ ${tv("k.toggle")}`,
  );

  // --- beside the images: measurements, report, key images -----------------------------------
  const where = (imageId: string) => {
    for (const pane of panes) {
      const i = pane.imageIds.indexOf(imageId);
      if (i >= 0) return tv("m.image", { series: seriesNumber(pane.series), index: i + 1 });
    }
    return "";
  };
  const renderAll = () => engine?.render();
  const measurements = measurementPanel(where, renderAll);
  cleanups.push(measurements.stop);
  const me = await api.whoami().catch(() => null);
  const saved = savedMeasurements({
    study,
    canSave: Boolean(me?.permissions.includes("measurements.write")),
    locate: (imageId) => {
      for (const pane of panes) {
        const i = pane.imageIds.indexOf(imageId);
        if (i >= 0) return pane.refs[i];
      }
      return null;
    },
    find: (sop, frame) => {
      for (const pane of panes) {
        const i = pane.refs.findIndex((r) => r.sop === sop && r.frame === frame);
        if (i >= 0) return { imageId: pane.imageIds[i], viewportId: pane.viewportId };
      }
      return null;
    },
  });
  measurements.element.append(saved.element);
  cleanups.push(saved.stop);
  const keyLabel = (k: KeyImage) => {
    const pane = panes.find((p) => p.series === k.series);
    const i = pane ? pane.refs.findIndex((r) => r.sop === k.sop && r.frame === k.frame) : -1;
    const index = i >= 0 ? i + 1 : "?";
    return k.frame === null
      ? tv("k.item", { series: seriesNumber(k.series), index })
      : tv("k.itemFrame", { series: seriesNumber(k.series), index, frame: k.frame });
  };
  const goKey = async (k: KeyImage) => {
    let pane = panes.find((p) => p.series === k.series);
    if (!pane) {
      pane = active;
      await pane.load(k.series);
    }
    const i = pane.refs.findIndex((r) => r.sop === k.sop && r.frame === k.frame);
    if (i >= 0) void pane.viewport?.setImageIdIndex(i);
    setActive(pane);
  };
  const keys = keyImagePanel(study, keyLabel, (k) => void goKey(k));
  const showKey = () => {
    for (const pane of panes) pane.mark.hidden = !isKeyImage(study, pane.current());
    keyButton.setAttribute("aria-pressed", String(isKeyImage(study, active.current())));
    keyButton.disabled = active.current() === null;
  };
  const toggleKey = () => {
    const ref = active.current();
    if (!ref) return;
    toggleKeyImage(study, ref);
    showKey();
    keys.refresh();
  };
  keyButton.addEventListener("click", toggleKey);
  // The report editor in another tab may change the list.
  const onStorage = (event: StorageEvent) => {
    if (event.key === `raddx.keyImages.${study}`) {
      showKey();
      keys.refresh();
    }
  };
  window.addEventListener("storage", onStorage);
  cleanups.push(() => window.removeEventListener("storage", onStorage));

  const grid = h("div", { class: "panes", "data-layout": layout }, panes[0].root);
  const viewerRoot = h(
    "div",
    { class: "viewer" },
    h("div", { class: "viewer-bar" }, tools.element, presets, cine, layoutGroup, keyButton),
    h(
      "div",
      { class: "viewer-body" },
      grid,
      h("aside", { class: "viewer-side" }, measurements.element, reportPanel(study, firstIn), keys.element),
    ),
    h("p", { id: "viewer-help", class: "help" }, tv("help")),
  );
  main.replaceChildren(
    h("a", { href: `#/studies/${encodeURIComponent(study)}`, class: "back" }, `← ${t("v.back")}`),
    viewerRoot,
  );

  // --- panes: the active one takes presets, cine and key images -------------------------------
  // Linked scrolling: a pane moved by the link does not move the others back.
  const following = new Map<Pane, number>();
  const setActive = (pane: Pane) => {
    active = pane;
    for (const p of panes) p.root.classList.toggle("active", p === pane && panes.length > 1);
    showCine();
    showKey();
  };
  const wire = (pane: Pane) => {
    pane.onImage = (moved, previous) => {
      if (moved === active) showKey();
      else pane.mark.hidden = !isKeyImage(study, pane.current());
      if (moved.fps && moved === active && !moved.playing) fps.value = String(moved.fps);
      if (following.get(moved) === moved.index()) {
        following.delete(moved);
        return;
      }
      if (!sync.checked || layout !== "1x2") return;
      for (const other of panes) {
        if (other === moved) continue;
        const target = other.scroll(moved.index() - previous);
        if (target !== null) following.set(other, target);
      }
    };
    pane.onLoaded = () => {
      keys.refresh();
      saved.draw();
    };
    pane.root.addEventListener("pointerdown", () => setActive(pane));
    pane.root.addEventListener("focusin", () => setActive(pane));
    pane.picker.addEventListener("change", () => {
      void pane.load(pane.picker.value).then(showCine);
      if (pane.n === 1) history.replaceState(null, "", `#/viewer/${encodeURIComponent(study)}/${encodeURIComponent(pane.picker.value)}`);
    });
    pane.enable();
    measurements.watch(pane.element);
    group.addViewport(pane.viewportId, "raddx");
  };
  wire(panes[0]);

  layoutPicker.addEventListener("change", () => {
    layout = layoutPicker.value === "1x2" ? "1x2" : "1x1";
    grid.dataset.layout = layout;
    if (layout === "1x2" && panes.length === 1) {
      const second = new Pane(2, engine!, study, seriesList);
      panes.push(second);
      grid.append(second.root);
      engine!.resize(true, true);
      wire(second);
      const others = seriesList.filter((s) => s.SeriesInstanceUID !== panes[0].series);
      void second.load((others[0] ?? seriesList[0]).SeriesInstanceUID);
    } else if (layout === "1x1" && panes.length === 2) {
      const second = panes.pop()!;
      group.removeViewports("raddx", second.viewportId);
      second.disable();
      second.root.remove();
    }
    engine!.resize(true, true);
    setActive(layout === "1x1" ? panes[0] : active);
  });

  // --- keyboard: ↑/↓ scroll, tool letters, P cine, K key image ---------------------------------
  viewerRoot.addEventListener("keydown", (event) => {
    const target = event.target as HTMLElement;
    if (event.ctrlKey || event.metaKey || event.altKey || target.closest("input, select, textarea")) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!target.classList.contains("viewport")) return;
      event.preventDefault();
      active.scroll(event.key === "ArrowDown" ? 1 : -1);
      return;
    }
    const key = event.key.toLowerCase();
    const tool = tools.byKey(key);
    if (tool) tools.choose(tool);
    else if (key === "p") toggleCine();
    else if (key === "k") toggleKey();
    else return;
    event.preventDefault();
  });

  cleanups.push(() => {
    for (const pane of panes) pane.disable();
    cache.purgeCache();
  });
  setActive(panes[0]);
  void listed.then((found) => {
    if (!found.some((s) => s.SeriesInstanceUID === series)) found.unshift(seriesList[0]);
    seriesList = found;
    for (const pane of panes) pane.setSeriesList(seriesList);
    keys.refresh();
  });
  await panes[0].load(series, firstStack);
  showCine();
  panes[0].element.focus();
}

