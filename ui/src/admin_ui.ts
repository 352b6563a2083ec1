// Shared by the administration pages: the page frame, tables, formatting, error text.
import { ApiError } from "./api";
import { h } from "./dom";
import { lang } from "./i18n";
import { tr, type AdminKey } from "./admin_strings";
import "./admin.css";

/** Clear `main` and put the page frame (back link, title) in it; returns the page body. */
export function page(main: HTMLElement, title: string, back = true): HTMLElement {
  const body = h("div", { class: "admin-body" });
  main.replaceChildren(
    h(
      "div",
      { class: "admin" },
      back ? h("a", { class: "back", href: "#/admin" }, tr("back")) : null,
      h("h1", { tabindex: "-1", id: "admin-title" }, title),
      body,
    ),
  );
  return body;
}

/** A titled section of a page. */
export function section(id: string, title: string, ...children: (Node | null)[]): HTMLElement {
  return h(
    "section",
    { id, class: "admin-section", "aria-labelledby": `${id}-title` },
    h("h2", { id: `${id}-title` }, title),
    ...children,
  );
}

/** The API's explanation of a failure (problem+json `detail`), for messages. */
export function errorText(exc: unknown): string {
  if (exc instanceof ApiError) return `${exc.message} (HTTP ${exc.status})`;
  return exc instanceof Error ? exc.message : String(exc);
}

/** A message for a failed load: a 403 is "your role may not", anything else "cannot load". */
export function failure(exc: unknown): HTMLElement {
  const refused = exc instanceof ApiError && exc.status === 403;
  return h(
    "p",
    { class: "error", role: "alert", "data-refused": refused ? "true" : null },
    refused
      ? tr("refused", { detail: errorText(exc) })
      : tr("loadFailed", { detail: errorText(exc) }),
  );
}

/** A live region for the outcome of an action (success in `status`, failure in `alert`). */
export function notice(id: string): {
  el: HTMLElement;
  ok(text: string): void;
  fail(exc: unknown): void;
  clear(): void;
} {
  const el = h("p", { id, class: "notice", role: "status", "aria-live": "polite" });
  return {
    el,
    ok(text) {
      el.className = "notice ok";
      el.setAttribute("role", "status");
      el.textContent = text;
    },
    fail(exc) {
      el.className = "notice error";
      el.setAttribute("role", "alert");
      el.textContent = tr("actionFailed", { detail: errorText(exc) });
    },
    clear() {
      el.textContent = "";
    },
  };
}

/** A table with a caption and header cells; the rows are filled by the caller. */
export function table(
  id: string,
  caption: string,
  headers: AdminKey[],
): { table: HTMLTableElement; body: HTMLTableSectionElement } {
  const body = h("tbody");
  const el = h(
    "table",
    { id, class: "admin-table" },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, ...headers.map((key) => h("th", { scope: "col" }, tr(key))))),
    body,
  );
  return { table: el, body };
}

export function cell(...children: (Node | string | null | false)[]): HTMLTableCellElement {
  return h("td", {}, ...children);
}

/** A labelled form field (the label's `for` names the input). */
export function field(label: string, input: HTMLElement): HTMLElement {
  return h("div", { class: "field" }, h("label", { for: input.id }, label), input);
}

export function fmtTime(iso: string | null | undefined): string {
  if (!iso) return "";
  return new Date(iso).toLocaleString(lang() === "ja" ? "ja-JP" : "en-GB", {
    dateStyle: "short",
    timeStyle: "medium",
  });
}

export function fmtBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export function fmtNumber(value: number): string {
  return value.toLocaleString(lang() === "ja" ? "ja-JP" : "en-GB");
}

/** A <select> of `options` (value, label) with `selected` chosen. */
export function select(
  attrs: Record<string, string>,
  options: [string, string][],
  selected = "",
): HTMLSelectElement {
  const el = h("select", attrs);
  for (const [value, label] of options) {
    el.append(h("option", { value, selected: value === selected }, label));
  }
  return el;
}
