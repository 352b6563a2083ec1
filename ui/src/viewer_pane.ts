// One viewport of the viewer: a series chosen from the study's list, shown as a stack with its
// status line (image, window, how much is loaded), the broken-instance message, cine and the
// key-image mark. The page (viewer.ts) holds one or two panes in one rendering engine.
import { Enums, RenderingEngine, cache, eventTarget, type Types } from "@cornerstonejs/core";
import { utilities as toolUtilities } from "@cornerstonejs/tools";
import type { Series } from "./api";
import { h } from "./dom";
import { t } from "./i18n";
import { useStream } from "./viewer_bulk";
import { openSeries, type FirstImage, type ImageRef, type OpenedSeries } from "./viewer_series";
import { tv } from "./viewer_text";

/** The option text of a series in the pickers. */
export function seriesLabel(s: Series): string {
  if (s.NumberOfSeriesRelatedInstances === undefined) return s.SeriesInstanceUID; // not listed yet
  return tv("series.option", {
    number: s.SeriesNumber ?? "",
    modality: s.Modality ?? "",
    description: s.SeriesDescription ?? "",
    count: s.NumberOfSeriesRelatedInstances,
  })
    .replace(/\s+/g, " ")
    .trim();
}

export class Pane {
  readonly root: HTMLElement;
  readonly element: HTMLDivElement;
  readonly status: HTMLElement;
  readonly failures: HTMLElement;
  readonly picker: HTMLSelectElement;
  readonly mark: HTMLElement;
  imageIds: string[] = [];
  refs: ImageRef[] = [];
  fps: number | null = null;
  series = "";
  /** Called after the shown image changes (scroll, cine, a new series). */
  onImage: (pane: Pane, previous: number) => void = () => {};
  /** Called once a series' stack is set. */
  onLoaded: (pane: Pane) => void = () => {};
  private loaded = new Set<string>();
  private failed = new Set<number>();
  private stop: (() => void) | null = null;
  private closeStream: (() => void) | null = null;
  /** Set when the page left the viewer: a load still under way stops at its next step. */
  private closed = false;
  private previous = 0;

  constructor(
    readonly n: number,
    readonly engine: RenderingEngine,
    private readonly study: string,
    seriesList: Series[],
  ) {
    const suffix = n === 1 ? "" : `-${n}`;
    this.picker = h("select", { id: `series-picker${suffix}` }) as HTMLSelectElement;
    this.setSeriesList(seriesList);
    this.element = h("div", {
      id: `viewport${suffix}`,
      class: "viewport",
      tabindex: 0,
      role: "img",
      "aria-label": t("v.image"),
      "aria-describedby": "viewer-help",
    }) as HTMLDivElement;
    this.element.addEventListener("contextmenu", (event) => event.preventDefault());
    this.status = h("p", { id: `viewer-status${suffix}`, role: "status", class: "pane-status" }, t("v.loading"));
    this.failures = h("p", { id: `viewer-failures${suffix}`, class: "error", role: "alert" });
    this.mark = h("span", { class: "key-mark", id: `key-mark${suffix}`, hidden: true }, `★ ${tv("k.marked")}`);
    this.root = h(
      "section",
      { class: "pane", "data-pane": n, "aria-label": tv("pane.label", { n, series: "" }) },
      h("label", { for: this.picker.id, class: "pane-picker" }, tv("pane.series", { n }), " ", this.picker),
      h("div", { class: "viewport-wrap" }, this.element, this.mark),
      this.status,
      this.failures,
    );
  }

  /** The series the picker offers (the study's image series). */
  setSeriesList(seriesList: Series[]): void {
    this.picker.replaceChildren(
      ...seriesList.map((s) => h("option", { value: s.SeriesInstanceUID }, seriesLabel(s))),
    );
    if (this.series) this.picker.value = this.series;
  }

  get viewportId(): string {
    return `vp${this.n}`;
  }

  get viewport(): Types.IStackViewport | null {
    return (this.engine.getViewport(this.viewportId) as Types.IStackViewport | undefined) ?? null;
  }

  /** The index of the shown image in the stack. */
  index(): number {
    return this.viewport?.getCurrentImageIdIndex() ?? 0;
  }

  current(): ImageRef | null {
    return this.refs[this.index()] ?? null;
  }

  /** Make the element a Cornerstone viewport (it must be in the page, with a size). */
  enable(): void {
    if (this.viewport) return;
    this.engine.enableElement({
      viewportId: this.viewportId,
      type: Enums.ViewportType.STACK,
      element: this.element,
    });
  }

  disable(): void {
    this.closed = true;
    this.release();
    if (this.viewport) this.engine.disableElement(this.viewportId);
  }

  private release(): void {
    this.closeStream?.();
    this.closeStream = null;
    this.stopCine();
    this.stop?.();
    this.stop = null;
    try {
      toolUtilities.stackPrefetch.disable(this.element);
    } catch {
      // never enabled
    }
  }

  /** Show ``series``: its middle image first, the rest fetched in the background. */
  async load(series: string, opened?: OpenedSeries): Promise<void> {
    this.release();
    this.series = series;
    this.picker.value = series;
    this.loaded = new Set();
    this.failed = new Set();
    this.imageIds = [];
    this.refs = [];
    this.early = null;
    this.status.textContent = t("v.loading");
    this.status.classList.remove("error");
    this.failures.textContent = "";
    this.root.setAttribute(
      "aria-label",
      tv("pane.label", { n: this.n, series: this.picker.selectedOptions[0]?.textContent ?? "" }),
    );
    const { first, full, stream } = opened ?? openSeries(this.study, series);
    this.closeStream = () => stream.close();
    // The middle image first, if it comes before the whole series' metadata.
    const early = await Promise.race([first, full.then(() => null)]);
    if (this.gone(series)) return; // another series was picked meanwhile, or the page left
    if (early) await this.showEarly(early, series);
    if (this.gone(series)) return;
    // From now on the images come from the series stream (the first one did not wait for it).
    this.closeStream = useStream(stream);
    const stack = await full;
    if (this.gone(series)) return;
    this.early = null;
    if (typeof stack === "number") {
      this.status.textContent = t(stack === 403 ? "denied" : "v.failed", { status: stack });
      this.status.classList.add("error");
      return;
    }
    this.imageIds = stack.imageIds;
    this.refs = stack.refs;
    this.fps = stack.fps;
    for (const number of stack.unreadable) this.failed.add(number);
    this.showFailures();
    if (!this.imageIds.length) {
      this.status.textContent = tv("pane.noImages");
      return;
    }
    this.listen();
    // Images still cached from an earlier look at this series count as loaded.
    for (const id of this.imageIds) if (cache.getImage(id)) this.loaded.add(id);
    const viewport = this.viewport!;
    const shown = early ? this.imageIds.indexOf(early.imageId) : -1;
    const middle = shown >= 0 ? shown : Math.floor(this.imageIds.length / 2);
    this.previous = middle;
    try {
      await viewport.setStack(this.imageIds, middle);
      viewport.render();
    } catch {
      // the middle image is broken: it is named; the reader can scroll to the others
    }
    if (this.gone(series)) return;
    toolUtilities.stackPrefetch.enable(this.element);
    this.show();
    this.onLoaded(this);
    this.onImage(this, middle);
  }

  private gone(series: string): boolean {
    return this.closed || this.series !== series;
  }

  /** While the series' metadata is on its way: its middle image alone, counted as the
   * index counts the series. */
  private early: FirstImage | null = null;
  private async showEarly(first: FirstImage, series: string): Promise<void> {
    try {
      await this.viewport!.setStack([first.imageId], 0);
      if (this.gone(series)) return;
      this.early = first;
      this.viewport!.render();
      this.show();
    } catch {
      // that image is broken: the whole series will say which
    }
  }

  private listen(): void {
    const wanted = new Map(this.imageIds.map((id, i) => [id, i]));
    const onLoaded = (event: Event) => {
      const id = (event as CustomEvent<{ image?: { imageId?: string } }>).detail?.image?.imageId;
      if (id && wanted.has(id) && !this.loaded.has(id)) {
        this.loaded.add(id);
        this.show();
      }
    };
    // An image that cannot be loaded (a broken instance) is named; the others stay viewable.
    const onFailed = (event: Event) => {
      const id = (event as CustomEvent<{ imageId?: string }>).detail?.imageId;
      const i = id === undefined ? undefined : wanted.get(id);
      if (i === undefined) return;
      this.failed.add(this.refs[i].instanceNumber || i + 1);
      this.showFailures();
    };
    const onNewImage = () => {
      const previous = this.previous;
      this.previous = this.index();
      this.show();
      this.onImage(this, previous);
    };
    const onShow = () => this.show();
    eventTarget.addEventListener(Enums.Events.IMAGE_LOADED, onLoaded);
    eventTarget.addEventListener(Enums.Events.IMAGE_LOAD_FAILED, onFailed);
    this.element.addEventListener(Enums.Events.STACK_NEW_IMAGE, onNewImage);
    this.element.addEventListener(Enums.Events.VOI_MODIFIED, onShow);
    this.element.addEventListener(Enums.Events.IMAGE_RENDERED, onShow);
    this.stop = () => {
      eventTarget.removeEventListener(Enums.Events.IMAGE_LOADED, onLoaded);
      eventTarget.removeEventListener(Enums.Events.IMAGE_LOAD_FAILED, onFailed);
      this.element.removeEventListener(Enums.Events.STACK_NEW_IMAGE, onNewImage);
      this.element.removeEventListener(Enums.Events.VOI_MODIFIED, onShow);
      this.element.removeEventListener(Enums.Events.IMAGE_RENDERED, onShow);
    };
  }

  private showFailures(): void {
    this.failures.textContent = this.failed.size
      ? t("v.failedImages", {
          count: this.failed.size,
          numbers: [...this.failed].sort((a, b) => a - b).join(", "),
        })
      : "";
  }

  /** The status line: image i/n, window, loaded count. */
  show(): void {
    const viewport = this.viewport;
    if (!viewport || !(this.imageIds.length || this.early)) return;
    const voi = viewport.getProperties().voiRange;
    const ww = voi ? Math.round(voi.upper - voi.lower) : 0;
    const wl = voi ? Math.round((voi.upper + voi.lower) / 2) : 0;
    const early = this.early;
    this.status.textContent = t("v.status", {
      index: (early ? early.index : this.index()) + 1,
      count: early ? early.count : this.imageIds.length,
      ww,
      wl,
      loaded: early ? 0 : this.loaded.size,
    });
  }

  /** Move by ``delta`` images (keyboard, linked scrolling), stopping at either end; the
   * index moved to, or null when it stays. */
  scroll(delta: number): number | null {
    const viewport = this.viewport;
    if (!viewport || !this.imageIds.length) return null;
    const next = Math.min(this.imageIds.length - 1, Math.max(0, this.index() + delta));
    if (next === this.index()) return null;
    void viewport.setImageIdIndex(next);
    return next;
  }

  setWindow(ww: number, wl: number): void {
    const viewport = this.viewport;
    if (!viewport) return;
    viewport.setProperties({ voiRange: { lower: wl - ww / 2, upper: wl + ww / 2 } });
    viewport.render();
  }

  get playing(): boolean {
    return Boolean(toolUtilities.cine.getToolState(this.element)?.intervalId);
  }

  playCine(fps: number): void {
    if (this.imageIds.length < 2) return;
    toolUtilities.cine.playClip(this.element, { framesPerSecond: fps, loop: true });
  }

  stopCine(): void {
    try {
      if (this.playing) toolUtilities.cine.stopClip(this.element);
    } catch {
      // not a viewport any more
    }
  }
}
