// HL7 endpoints and the outbound queue (hl7.read; retry with hl7.write): where raddx sends
// HL7 v2 messages (raddx.toml, read-only here) and each delivery's state.
import { adminApi, type OutboxEntry } from "./admin_api";
import { tr } from "./admin_strings";
import { cell, failure, field, fmtTime, notice, page, section, select, table } from "./admin_ui";
import type { WhoAmI } from "./api";
import { h } from "./dom";

const PAGE = 50;
const STATUSES = ["", "pending", "failed", "sent", "routed", "unrouted"];

export async function renderHl7(main: HTMLElement, who: WhoAmI): Promise<void> {
  const body = page(main, tr("hl7.title"));
  try {
    const destinations = await adminApi.hl7Destinations();
    const { table: tableEl, body: rows } = table("hl7-destinations", tr("hl7.destCaption"), [
      "hl7.name",
      "ae.host",
      "ae.port",
      "hl7.messages",
      "hl7.charset",
      "hl7.receiver",
      "hl7.tls",
    ]);
    rows.append(
      ...destinations.map((d) =>
        h(
          "tr",
          {},
          cell(h("strong", {}, d.name)),
          cell(d.host),
          cell(String(d.port)),
          cell(d.messages.join(", ")),
          cell(d.charset),
          cell([d.receiving_application, d.receiving_facility].filter(Boolean).join(" / ")),
          cell(d.tls ? tr("yes") : tr("no")),
        ),
      ),
    );
    body.append(
      section(
        "hl7-dest",
        tr("hl7.destSection"),
        h("p", { class: "help" }, tr("hl7.destHelp")),
        destinations.length ? tableEl : h("p", {}, tr("hl7.noDestinations")),
      ),
    );
  } catch (exc) {
    body.append(failure(exc));
    return;
  }
  body.append(outboxSection(who.permissions.includes("hl7.write")));
}

function outboxSection(mayRetry: boolean): HTMLElement {
  const message = notice("outbox-notice");
  const status = select(
    { id: "outbox-status" },
    STATUSES.map((s): [string, string] => [s, s ? s : tr("any")]),
  );
  const { table: tableEl, body: rows } = table("outbox-table", tr("hl7.outboxCaption"), [
    "hl7.id",
    "hl7.created",
    "hl7.event",
    "hl7.subject",
    "hl7.destination",
    "hl7.status",
    "hl7.attempts",
    "hl7.lastError",
    "users.actions",
  ]);
  const prev = h("button", { type: "button" }, tr("prev"));
  const next = h("button", { type: "button" }, tr("next"));
  let offset = 0;

  function row(entry: OutboxEntry): HTMLTableRowElement {
    const retry =
      mayRetry && entry.status === "failed"
        ? h(
            "button",
            {
              type: "button",
              onclick: async () => {
                message.clear();
                try {
                  await adminApi.retryOutbox(entry.id);
                  message.ok(tr("hl7.retried", { id: entry.id }));
                } catch (exc) {
                  message.fail(exc);
                }
                await load();
              },
            },
            tr("hl7.retry"),
          )
        : null;
    return h(
      "tr",
      { class: `outbox-${entry.status}` },
      cell(String(entry.id)),
      cell(fmtTime(entry.created_at)),
      cell(`${entry.event} ${entry.action}`),
      cell(entry.subject),
      cell(entry.destination ?? ""),
      cell(entry.status),
      cell(String(entry.attempts)),
      cell(entry.last_error ?? ""),
      cell(retry),
    );
  }

  async function load(): Promise<void> {
    try {
      const entries = await adminApi.outbox(status.value, PAGE, offset);
      rows.replaceChildren(
        ...(entries.length
          ? entries.map(row)
          : [h("tr", {}, h("td", { colspan: "9" }, tr("hl7.empty")))]),
      );
      prev.disabled = offset === 0;
      next.disabled = entries.length < PAGE;
    } catch (exc) {
      rows.replaceChildren(h("tr", {}, h("td", { colspan: "9" }, failure(exc))));
    }
  }
  status.addEventListener("change", () => {
    offset = 0;
    void load();
  });
  prev.addEventListener("click", () => {
    offset = Math.max(0, offset - PAGE);
    void load();
  });
  next.addEventListener("click", () => {
    offset += PAGE;
    void load();
  });
  void load();
  return section(
    "outbox",
    tr("hl7.outboxSection"),
    h("div", { class: "admin-form inline" }, field(tr("hl7.status"), status)),
    message.el,
    tableEl,
    h("div", { class: "pager" }, prev, next),
  );
}
