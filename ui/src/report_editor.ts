// The report editor (#/reports/<id>): sections, the two-step workflow (draft → preliminary
// 一次読影 → final 二次読影, the verifier being the logged-in radiologist), amendments and
// addenda of a signed report, key images from the viewer, version history and PDF preview.
//
// Nothing typed is lost (issue 10, "session expiry while editing"): every keystroke is kept
// in localStorage (per user and report) until the server has it; the draft is saved to the
// server (PATCH) when typing pauses and periodically. When the session expires the API
// answers 401, the application shows the login (api.ts, main.ts) and comes back to this
// hash; the editor then restores the kept text and saves it.
import "./reporting.css";
import { ApiError, type WhoAmI } from "./api";
import { h } from "./dom";
import { lang } from "./i18n";
import { nameParts } from "./names";
import {
  reportsApi,
  SECTION_NAMES,
  type KeyImageRef,
  type ReportPerson,
  type ReportRecord,
  type ReportSummary,
  type SectionName,
  type Sections,
} from "./reporting_api";
import { dateTime, personText, statusLabel, tr, type TrKey } from "./reporting_i18n";

/** Pause in typing after which the draft is saved to the server (ms). */
const IDLE_SAVE_MS = 1500;
/** Periodic save while there are unsaved changes (ms). */
const PERIODIC_SAVE_MS = 20_000;
const SIGNED = new Set(["final", "amended", "corrected"]);
const IN_PROGRESS = new Set(["draft", "preliminary"]);
/** Shown as the first sections; the others are folded under "Other sections". */
const MAIN_SECTIONS: SectionName[] = ["findings", "impression"];

type Mode = "view" | "edit" | "amend";

/** What localStorage keeps of text not yet on the server. */
interface KeptText {
  mode: "edit" | "amend";
  version: number;
  sections: Sections;
  key_images?: KeyImageRef[];
  at: string;
  /** The revision the text was typed on: text kept from before someone else saved is shown,
   * never saved over their text. */
  revision?: string | null;
}

/** The viewer's key-image selection (localStorage ``raddx.keyImages.<StudyInstanceUID>``). */
interface ViewerKeyImage {
  series: string;
  sop: string;
  sopClass: string;
  frame: number | null;
}

const keptKey = (user: string, id: string) => `raddx.reportDraft.${user}.${id}`;
const addendumKey = (user: string, id: string) => `raddx.reportAddendum.${user}.${id}`;

function readKept(user: string, id: string): KeptText | null {
  try {
    const raw = localStorage.getItem(keptKey(user, id));
    if (!raw) return null;
    const kept = JSON.parse(raw) as KeptText;
    return kept && typeof kept.sections === "object" ? kept : null;
  } catch {
    return null;
  }
}

function viewerSelection(studyUid: string): ViewerKeyImage[] {
  try {
    const raw = localStorage.getItem(`raddx.keyImages.${studyUid}`);
    const list: unknown = raw ? JSON.parse(raw) : [];
    if (!Array.isArray(list)) return [];
    return list.filter(
      (k): k is ViewerKeyImage =>
        typeof k === "object" && k !== null && typeof k.series === "string" && typeof k.sop === "string" &&
        typeof k.sopClass === "string",
    );
  } catch {
    return [];
  }
}

function sameSections(a: Sections, b: Sections): boolean {
  return SECTION_NAMES.every((name) => (a[name] ?? "") === (b[name] ?? ""));
}

const sameImage = (a: KeyImageRef, b: KeyImageRef) => a.sop_uid === b.sop_uid && (a.frame ?? null) === (b.frame ?? null);

let active: Editor | null = null;

window.addEventListener("beforeunload", (event) => {
  if (active?.unsaved) event.preventDefault();
});

/** Stop the open editor's timers (the area's `leave`). */
export function leaveEditor(): void {
  const editor = active;
  active = null;
  editor?.stop();
}

class Editor {
  private mode: Mode = "view";
  private readonly areas = new Map<SectionName, HTMLTextAreaElement>();
  private dirty = false;
  /** Someone else saved the draft since it was loaded: no more saves until a reload. */
  private conflict = false;
  private stopped = false;
  private unauthenticated = false;
  private idle: number | undefined;
  private periodic: number | undefined;
  private chain: Promise<boolean> = Promise.resolve(true);
  private amendImages: KeyImageRef[] = [];
  private readonly saveLine = h("p", { id: "report-save-status", role: "status" });
  private readonly notice = h("div", { id: "report-notice", role: "alert" });
  private keyImagesBox = h("section", { id: "key-images", "aria-labelledby": "ki-title" });
  private readonly me: ReportPerson;
  private readonly canWrite: boolean;
  private readonly canSign: boolean;

  constructor(
    private readonly main: HTMLElement,
    private record: ReportRecord,
    private readonly versions: ReportSummary[],
    private readonly principal: WhoAmI,
  ) {
    // Signed with the account's display name (kanji, kana, romaji) when it has one.
    this.me = { name: principal.display_name || principal.name, id: principal.name };
    this.canWrite = principal.permissions.includes("report.write");
    this.canSign = principal.permissions.includes("report.sign");
    if (IN_PROGRESS.has(record.status) && this.canWrite) this.mode = "edit";
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.idle);
    window.clearInterval(this.periodic);
    // Leaving with unsaved changes (a link, not an expired session): one last save; the
    // text stays in localStorage until the server has it either way.
    if (this.mode === "edit" && this.dirty && !this.unauthenticated) void this.save();
  }

  /** The stored revision this editor's text is based on. */
  private get revision(): string | null {
    return this.record.revision ?? this.versions.find((v) => v.version === this.record.version)?.revision ?? null;
  }

  private get sections(): Sections {
    const out = { ...this.record.sections };
    for (const [name, area] of this.areas) out[name] = area.value;
    return out;
  }

  private keep(): void {
    if (this.mode === "view") return;
    const kept: KeptText = {
      mode: this.mode,
      version: this.record.version,
      sections: this.sections,
      key_images: this.mode === "amend" ? this.amendImages : undefined,
      at: new Date().toISOString(),
      revision: this.revision,
    };
    localStorage.setItem(keptKey(this.principal.name, this.record.report_id), JSON.stringify(kept));
  }

  private forget(): void {
    localStorage.removeItem(keptKey(this.principal.name, this.record.report_id));
  }

  private onInput(): void {
    this.keep();
    if (this.mode !== "edit") return;
    this.dirty = true;
    if (this.conflict) return; // kept in this browser; the notice offers the reload
    this.saveLine.textContent = tr("ed.dirty");
    window.clearTimeout(this.idle);
    this.idle = window.setTimeout(() => void this.save(), IDLE_SAVE_MS);
  }

  /** Whether leaving the page would lose text the server does not have yet (it stays in
   * localStorage either way; the browser's "leave page?" question says so). */
  get unsaved(): boolean {
    return this.dirty || (this.mode === "amend" && readKept(this.principal.name, this.record.report_id) !== null);
  }

  /** Save the draft's sections (PATCH); resolves to whether the server has the text. */
  save(): Promise<boolean> {
    this.chain = this.chain.then(() => this.saveNow());
    return this.chain;
  }

  private async saveNow(): Promise<boolean> {
    window.clearTimeout(this.idle);
    if (!this.dirty) return true;
    if (this.conflict) return false;
    const sent = this.sections;
    this.dirty = false;
    this.saveLine.textContent = tr("ed.saving");
    try {
      this.record = await reportsApi.edit(this.record.report_id, { sections: sent }, this.revision);
      this.unauthenticated = false;
      if (sameSections(this.sections, sent)) this.forget();
      else this.dirty = true;
      this.saveLine.textContent = tr("ed.saved", { time: new Date().toLocaleTimeString(lang()) });
      return true;
    } catch (exc) {
      this.dirty = true;
      if (exc instanceof ApiError && exc.status === 401) this.unauthenticated = true;
      if (exc instanceof ApiError && exc.status === 409 && this.mode === "edit") {
        this.showConflict();
        return false;
      }
      this.saveLine.textContent = tr("ed.saveFailed", { detail: exc instanceof Error ? exc.message : String(exc) });
      this.saveLine.classList.add("error");
      return false;
    }
  }

  /** Another window or person saved this draft after it was loaded here: stop saving (their
   * text would be overwritten), keep ours in this browser, offer to reload (which shows ours
   * beside theirs to copy from, see restore()). */
  private showConflict(): void {
    this.conflict = true;
    window.clearTimeout(this.idle);
    if (this.dirty) this.keep();
    const reload = h("button", { type: "button", id: "report-reload" }, tr("ed.reload"));
    reload.addEventListener("click", () => {
      this.dirty = false;
      this.stopped = true;
      void renderEditor(this.main, this.record.report_id, this.principal);
    });
    this.saveLine.textContent = "";
    this.notice.replaceChildren(h("p", { class: "error" }, tr("ed.conflict")), reload);
  }

  /** Put text kept in localStorage back (after a session expiry or a closed tab). */
  async restore(): Promise<void> {
    const addendum = localStorage.getItem(addendumKey(this.principal.name, this.record.report_id));
    if (addendum && SIGNED.has(this.record.status) && this.canSign) this.showAddendum(addendum);
    const kept = readKept(this.principal.name, this.record.report_id);
    if (!kept) return;
    if (kept.mode === "edit" && this.mode === "edit") {
      if (sameSections(kept.sections, this.record.sections)) {
        this.forget();
        return;
      }
      if (kept.revision && kept.revision !== this.revision) {
        this.showKept(kept, tr("ed.restoredConflict"));
        return;
      }
      for (const [name, area] of this.areas) area.value = kept.sections[name] ?? "";
      this.dirty = true;
      if (await this.save()) this.notice.replaceChildren(h("p", { class: "info" }, tr("ed.restored")));
      return;
    }
    if (kept.mode === "amend" && SIGNED.has(this.record.status) && this.canSign && kept.version === this.record.version) {
      this.startAmend(kept.sections, kept.key_images ?? this.record.key_images);
      this.notice.replaceChildren(h("p", { class: "info" }, tr("ed.restoredAmend")));
      return;
    }
    // The report moved on (signed by someone else, cancelled): show the text, lose nothing.
    this.showKept(kept, tr("ed.restoredStale", { status: statusLabel(this.record.status) }));
  }

  /** Text kept in this browser that cannot be saved as it is: shown to copy from. */
  private showKept(kept: KeptText, message: string): void {
    const discard = h("button", { type: "button", id: "kept-discard" }, tr("ed.discard"));
    discard.addEventListener("click", () => {
      this.forget();
      this.notice.replaceChildren();
    });
    this.notice.replaceChildren(
      h("p", {}, message),
      ...SECTION_NAMES.filter((n) => kept.sections[n]).map((n) =>
        h("div", { class: "kept" }, h("strong", {}, tr(`sec.${n}` as TrKey)), h("pre", {}, kept.sections[n])),
      ),
      discard,
    );
  }

  render(message = ""): void {
    const r = this.record;
    const name = nameParts(
      { Alphabetic: r.patient.name_alpha || null, Ideographic: r.patient.name_kanji || null, Phonetic: r.patient.name_kana || null },
      lang(),
    );
    const study = r.studies[0];
    const fact = (key: TrKey, value: string | null | undefined, id?: string) =>
      value ? [h("dt", {}, tr(key)), h("dd", id ? { id } : {}, value)] : [];
    const header = h(
      "section",
      { class: "study-facts report-facts", "aria-labelledby": "report-title" },
      h(
        "h1",
        { id: "report-title", tabindex: -1 },
        h("span", { class: "primary", lang: "ja" }, name.primary || r.patient.patient_id),
        name.secondary ? h("span", { class: "reading", lang: "ja" }, name.secondary) : null,
      ),
      h(
        "dl",
        {},
        ...fact("ed.status", statusLabel(r.status), "report-status"),
        ...fact("ed.reportId", r.report_id),
        ...fact("ed.version", String(r.version), "report-version"),
        ...fact("ed.patientId", r.patient.patient_id),
        ...fact("ed.birth", r.patient.birth_date),
        ...fact("ed.sex", r.patient.sex),
        ...fact("ed.accession", r.order.accession_no),
        ...fact("ed.procedure", r.order.procedure_name),
        ...fact("ed.studyDate", study?.study_datetime ? dateTime(study.study_datetime) : null),
        ...fact("ed.modality", study?.modalities.join(", ")),
        ...fact("ed.author", personText(r.author?.name)),
        ...fact("ed.verifier", personText(r.verifier?.name), "report-verifier"),
        ...fact("ed.verifiedAt", dateTime(r.verified_at)),
      ),
    );
    const back = h("a", { href: "#/reading", class: "back", id: "back" }, `← ${tr("ed.back")}`);
    const flash = h("p", { id: "report-message", role: "status" }, message);
    this.main.replaceChildren(
      back,
      header,
      flash,
      this.notice,
      this.sectionsForm(),
      this.saveLine,
      this.actions(),
      this.addendaBox(),
      this.keyImagesBox,
      this.versionsBox(),
      this.pdfBox(),
    );
    this.renderKeyImages();
    if (this.mode === "edit") this.periodic = window.setInterval(() => void this.save(), PERIODIC_SAVE_MS);
  }

  private sectionsForm(): HTMLElement {
    this.areas.clear();
    const editable = this.mode !== "view";
    const field = (name: SectionName) => {
      const area = h("textarea", {
        id: `sec-${name}`,
        name,
        rows: MAIN_SECTIONS.includes(name) ? 8 : 3,
        readonly: !editable,
        lang: "ja",
      });
      area.value = this.record.sections[name] ?? "";
      area.addEventListener("input", () => this.onInput());
      this.areas.set(name, area);
      return h("div", { class: "field section-field" }, h("label", { for: area.id }, tr(`sec.${name}` as TrKey)), area);
    };
    const others = SECTION_NAMES.filter((n) => !MAIN_SECTIONS.includes(n));
    // Ctrl+S / ⌘S saves the draft now (instead of the browser's "save page").
    const onKey = (event: KeyboardEvent) => {
      if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "s" && this.mode === "edit") {
        event.preventDefault();
        this.dirty = this.dirty || !sameSections(this.sections, this.record.sections);
        void this.save();
      }
    };
    const anyOther = others.some((n) => this.record.sections[n]);
    const box = h(
      "section",
      { class: "report-sections", "aria-labelledby": "sections-title" },
      h("h2", { id: "sections-title" }, tr("ed.sections")),
      SIGNED.has(this.record.status) && this.mode === "view" ? h("p", { class: "help" }, tr("ed.readOnly")) : null,
      ...MAIN_SECTIONS.map(field),
      h("details", { open: anyOther }, h("summary", {}, tr("ed.more")), ...others.map(field)),
    );
    box.addEventListener("keydown", onKey);
    return box;
  }

  private button(id: string, label: TrKey, action: () => Promise<void>): HTMLButtonElement {
    const b = h("button", { type: "button", id }, tr(label));
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await action();
      } catch (exc) {
        if (this.stopped) return;
        if (exc instanceof ApiError && exc.status === 409 && this.mode === "edit") {
          this.showConflict(); // someone saved another text: sign or submit nothing unseen
          return;
        }
        const detail = exc instanceof Error ? exc.message : String(exc);
        this.setMessage(tr("ed.actionFailed", { action: tr(label), detail }), true);
      } finally {
        b.disabled = false;
      }
    });
    return b;
  }

  private setMessage(text: string, error = false): void {
    const line = this.main.querySelector<HTMLElement>("#report-message");
    if (!line) return;
    line.textContent = text;
    line.classList.toggle("error", error);
  }

  private async reload(message: string): Promise<void> {
    await renderEditor(this.main, this.record.report_id, this.principal, message);
  }

  private actions(): HTMLElement {
    const r = this.record;
    const buttons: HTMLElement[] = [];
    if (this.mode === "edit") {
      buttons.push(
        this.button("save-draft", "ed.save", async () => {
          this.dirty = this.dirty || !sameSections(this.sections, r.sections);
          await this.save();
        }),
      );
      if (r.status === "draft")
        buttons.push(
          this.button("submit-preliminary", "ed.submit", async () => {
            if (!(await this.save())) return;
            this.record = await reportsApi.submit(r.report_id, this.me, this.revision);
            await this.reload(tr("ed.submitted"));
          }),
        );
    }
    if (this.mode === "edit")
      buttons.push(
        this.button("cancel-report", "ed.cancel", async () => {
          if (!window.confirm(tr("ed.cancelConfirm"))) return;
          this.record = await reportsApi.cancel(r.report_id);
          this.forget();
          this.dirty = false;
          await this.reload(tr("ed.cancelled"));
        }),
      );
    if (IN_PROGRESS.has(r.status) && this.canSign)
      buttons.push(
        this.button("finalise", "ed.finalise", async () => {
          if (this.mode === "edit" && !(await this.save())) return;
          this.record = await reportsApi.finalise(r.report_id, this.me, this.revision);
          this.forget();
          await this.reload(tr("ed.finalised"));
        }),
      );
    if (SIGNED.has(r.status) && this.canSign) {
      if (this.mode === "amend") {
        buttons.push(
          this.button("amend-sign", "ed.amendSave", async () => {
            const signed = await reportsApi.amend(r.report_id, this.me, {
              sections: this.sections,
              key_images: this.amendImages,
            });
            this.forget();
            this.record = signed;
            await this.reload(tr("ed.amended", { version: signed.version }));
          }),
          this.button("amend-discard", "ed.amendDiscard", async () => {
            this.forget();
            await this.reload("");
          }),
        );
      } else {
        buttons.push(
          this.button("amend", "ed.amend", async () => {
            this.startAmend(r.sections, r.key_images);
          }),
          this.button("addendum", "ed.addendum", async () => {
            this.showAddendum();
          }),
        );
      }
    }
    return h("div", { class: "actions report-actions", id: "report-actions" }, ...buttons);
  }

  private startAmend(sections: Sections, images: KeyImageRef[]): void {
    this.mode = "amend";
    this.amendImages = [...images];
    const message = this.main.querySelector<HTMLElement>("#report-message")?.textContent ?? "";
    this.render(message);
    for (const [name, area] of this.areas) area.value = sections[name] ?? "";
    this.keep();
    this.areas.get("findings")?.focus();
  }

  private showAddendum(kept = ""): void {
    if (this.main.querySelector("#addendum-text")) return;
    const key = addendumKey(this.principal.name, this.record.report_id);
    const text = h("textarea", { id: "addendum-text", rows: 4, lang: "ja" });
    text.value = kept;
    // Kept in the browser until signed, like the draft's text.
    text.addEventListener("input", () => localStorage.setItem(key, text.value));
    const sign = this.button("addendum-sign", "ed.addendumSign", async () => {
      const signed = await reportsApi.addendum(this.record.report_id, text.value, this.me);
      localStorage.removeItem(key);
      this.record = signed;
      await this.reload(tr("ed.addendumDone", { version: signed.version }));
    });
    this.main
      .querySelector("#report-actions")
      ?.after(
        h("div", { class: "field addendum-field" }, h("label", { for: text.id }, tr("ed.addendum")), text, h("div", { class: "actions" }, sign)),
      );
    text.focus();
  }

  private addendaBox(): HTMLElement | string {
    if (!this.record.addenda.length) return "";
    return h(
      "section",
      { id: "addenda", "aria-labelledby": "addenda-title" },
      h("h2", { id: "addenda-title" }, tr("ed.addenda")),
      ...this.record.addenda.map((a) =>
        h(
          "div",
          { class: "addendum" },
          h("p", { class: "help" }, `${dateTime(a.created_at)} ${personText(a.author.name)}`),
          h("pre", { lang: "ja" }, a.text),
        ),
      ),
    );
  }

  // -- key images ------------------------------------------------------------------------

  private get currentImages(): KeyImageRef[] {
    return this.mode === "amend" ? this.amendImages : this.record.key_images;
  }

  private async setImages(images: KeyImageRef[], message: string): Promise<void> {
    if (this.mode === "amend") {
      this.amendImages = images;
      this.keep();
    } else {
      if (this.dirty && !(await this.save())) return;
      this.record = await reportsApi.edit(this.record.report_id, { key_images: images }, this.revision);
    }
    this.renderKeyImages(message);
  }

  private renderKeyImages(message = ""): void {
    const canChange = this.mode === "amend" || this.mode === "edit";
    const images = this.currentImages;
    const selection = this.record.studies.flatMap((s) =>
      viewerSelection(s.study_uid).map(
        (k): KeyImageRef => ({
          study_uid: s.study_uid,
          series_uid: k.series,
          sop_uid: k.sop,
          sop_class_uid: k.sopClass,
          frame: typeof k.frame === "number" && k.frame >= 1 ? k.frame : null,
          comment: "",
        }),
      ),
    );
    const fresh = selection.filter((k) => !images.some((i) => sameImage(i, k)));
    const list = images.length
      ? h(
          "ul",
          { id: "key-image-list" },
          ...images.map((k) => {
            const remove = canChange
              ? this.button(`ki-remove-${k.sop_uid}`, "ki.remove", () =>
                  this.setImages(images.filter((i) => !sameImage(i, k)), ""),
                )
              : null;
            return h(
              "li",
              { "data-sop": k.sop_uid },
              tr("ki.item", {
                series: k.series_uid.slice(-8),
                sop: k.sop_uid.slice(-8),
                frame: k.frame ? tr("ki.frame", { frame: k.frame }) : "",
              }),
              " ",
              h(
                "a",
                { href: `#/viewer/${encodeURIComponent(k.study_uid)}/${encodeURIComponent(k.series_uid)}` },
                tr("ki.view"),
              ),
              remove ? " " : null,
              remove,
            );
          }),
        )
      : h("p", {}, tr("ki.none"));
    const add = this.button("ki-add", "ki.add", async () => {
      if (!fresh.length) {
        this.renderKeyImages(tr("ki.nothingNew"));
        return;
      }
      await this.setImages([...images, ...fresh], tr("ki.added", { count: fresh.length }));
    });
    add.disabled = !fresh.length;
    const parts: (HTMLElement | null | 0)[] = [
      h("h2", { id: "ki-title" }, tr("ki.title")),
      list,
      selection.length ? h("p", { id: "ki-selection" }, tr("ki.selection", { count: selection.length })) : null,
      canChange && selection.length ? add : null,
      !canChange && SIGNED.has(this.record.status) && this.canSign && selection.length
        ? h("p", { class: "help" }, tr("ki.hintAmend"))
        : null,
      h("p", { id: "ki-message", role: "status" }, message),
    ];
    this.keyImagesBox.replaceChildren(...parts.filter((p): p is HTMLElement => !!p));
  }

  // -- versions and PDF -------------------------------------------------------------------

  private versionsBox(): HTMLElement {
    const cols: TrKey[] = ["vh.version", "vh.status", "vh.created", "vh.verified", "vh.author", "vh.verifier", "vh.pdf"];
    return h(
      "section",
      { "aria-labelledby": "versions-title" },
      h("h2", { id: "versions-title" }, tr("vh.title")),
      h(
        "table",
        { id: "report-versions" },
        h("thead", {}, h("tr", {}, ...cols.map((k) => h("th", { scope: "col" }, tr(k))))),
        h(
          "tbody",
          {},
          ...this.versions.map((v) =>
            h(
              "tr",
              { "data-version": v.version },
              h("td", { class: "num" }, String(v.version)),
              h("td", {}, statusLabel(v.status)),
              h("td", {}, dateTime(v.created_at)),
              h("td", {}, dateTime(v.verified_at)),
              h("td", {}, personText(v.author)),
              h("td", {}, personText(v.verifier)),
              h(
                "td",
                {},
                h("a", { href: reportsApi.pdfUrl(v.report_id, v.version), target: "_blank", rel: "noopener" }, "PDF"),
              ),
            ),
          ),
        ),
      ),
    );
  }

  private pdfBox(): HTMLElement {
    const box = h("section", { id: "pdf-preview", class: "pdf-preview" });
    const toggle = h("button", { type: "button", id: "pdf-toggle", "aria-expanded": "false" }, tr("pdf.show"));
    const line = h("p", { id: "pdf-status", role: "status" });
    toggle.addEventListener("click", async () => {
      const frame = box.querySelector("iframe");
      if (frame) {
        URL.revokeObjectURL(frame.src);
        frame.remove();
        toggle.textContent = tr("pdf.show");
        toggle.setAttribute("aria-expanded", "false");
        return;
      }
      toggle.disabled = true;
      line.textContent = "";
      try {
        // The PDF shows what the server has: save first, so the preview has the latest text.
        if (this.mode === "edit" && !(await this.save())) return;
        const blob = await reportsApi.pdf(this.record.report_id, this.record.version);
        if (this.stopped) return;
        box.append(h("iframe", { id: "report-pdf", title: tr("pdf.title"), src: URL.createObjectURL(blob) }));
        toggle.textContent = tr("pdf.hide");
        toggle.setAttribute("aria-expanded", "true");
      } catch (exc) {
        line.textContent = tr("ed.actionFailed", {
          action: tr("pdf.show"),
          detail: exc instanceof Error ? exc.message : String(exc),
        });
        line.classList.add("error");
      } finally {
        toggle.disabled = false;
      }
    });
    box.append(toggle, line);
    return box;
  }
}

/** Render the editor of report ``id`` into ``main``. */
export async function renderEditor(main: HTMLElement, id: string, principal: WhoAmI, message = ""): Promise<void> {
  leaveEditor();
  const status = h("p", { id: "report-loading", role: "status" }, tr("ed.loading"));
  if (!main.querySelector("#report-title")) main.replaceChildren(status);
  let record: ReportRecord;
  let versions: ReportSummary[];
  try {
    [record, versions] = await Promise.all([reportsApi.get(id), reportsApi.versions(id)]);
  } catch (exc) {
    if (exc instanceof ApiError && exc.status === 401) return; // the login is shown
    const detail = exc instanceof ApiError && exc.status === 403 ? tr("rp.denied") : exc instanceof Error ? exc.message : String(exc);
    main.replaceChildren(h("a", { href: "#/reading", class: "back" }, `← ${tr("ed.back")}`), status);
    status.textContent = tr("ed.failed", { detail });
    status.classList.add("error");
    return;
  }
  if (location.hash !== `#/reports/${encodeURIComponent(id)}` && location.hash !== `#/reports/${id}`) return;
  const editor = new Editor(main, record, versions, principal);
  active = editor;
  editor.render(message);
  await editor.restore();
  main.querySelector<HTMLElement>("#report-title")?.focus();
}

/** "New report" for a study (#/reports/new/<uid>): opens the report in progress for the
 * study if there is one, else creates a draft (POST /api/reports/from-study). */
export async function renderNewReport(main: HTMLElement, studyUid: string, principal: WhoAmI): Promise<void> {
  leaveEditor();
  const status = h("p", { id: "report-loading", role: "status" }, tr("ed.creating"));
  main.replaceChildren(h("a", { href: "#/reading", class: "back" }, `← ${tr("ed.back")}`), status);
  try {
    const open = (await reportsApi.forStudy(studyUid)).find((r) => IN_PROGRESS.has(r.status));
    const id = open
      ? open.report_id
      : (await reportsApi.createForStudy(studyUid, { name: principal.name, id: principal.name })).report_id;
    location.replace(`#/reports/${encodeURIComponent(id)}`);
  } catch (exc) {
    if (exc instanceof ApiError && exc.status === 401) return;
    const detail = exc instanceof ApiError && exc.status === 403 ? tr("rp.denied") : exc instanceof Error ? exc.message : String(exc);
    status.textContent = tr("ed.failed", { detail });
    status.classList.add("error");
  }
}

