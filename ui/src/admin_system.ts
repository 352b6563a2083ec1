// Storage, queues and system health: /healthz (anyone), /api/system/status (system.read),
// /api/statistics (archive.statistics), /api/jobs (jobs.read). A section the role may not
// read is left out; with none of them, the status is asked for anyway so the API's refusal
// (audited) is what the user sees.
import { adminApi, type Job, type SystemStatus } from "./admin_api";
import { tr } from "./admin_strings";
import { cell, failure, fmtBytes, fmtNumber, fmtTime, page, section, table } from "./admin_ui";
import type { WhoAmI } from "./api";
import { h } from "./dom";

function facts(id: string, pairs: [string, Node | string][]): HTMLElement {
  return h(
    "dl",
    { id, class: "facts" },
    ...pairs.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]),
  );
}

function state(ok: boolean, detail?: string | null): HTMLElement {
  return h(
    "span",
    { class: ok ? "state ok" : "state error" },
    ok ? tr("sys.ok") : tr("sys.error", { detail: detail ?? "" }),
  );
}

export async function renderSystem(main: HTMLElement, who: WhoAmI): Promise<void> {
  const body = page(main, tr("sys.title"));
  const may = (permission: string) => who.permissions.includes(permission);
  const allowed = ["system.read", "archive.statistics", "jobs.read"].some(may);
  const parts: Promise<HTMLElement>[] = [health()];
  if (may("system.read") || !allowed) parts.push(status());
  if (may("archive.statistics")) parts.push(statistics());
  if (may("jobs.read")) parts.push(jobs());
  body.append(...(await Promise.all(parts)));
}

async function health(): Promise<HTMLElement> {
  try {
    const { status, body } = await adminApi.health();
    return section(
      "health",
      tr("sys.health"),
      facts("health-facts", [
        [tr("sys.overall"), state(status === 200, body.status)],
        [tr("sys.database"), state(body.database === "ok", body.database)],
        [tr("sys.storage"), state(body.storage === "ok", body.storage)],
        [tr("sys.version"), body.version ?? ""],
      ]),
    );
  } catch (exc) {
    return section("health", tr("sys.health"), failure(exc));
  }
}

function disk(s: SystemStatus["storage"]): HTMLElement {
  if (s.total_bytes === null || s.free_bytes === null) return state(false, s.error);
  const used = s.total_bytes - s.free_bytes;
  return h(
    "span",
    { class: "disk" },
    h("meter", {
      min: "0",
      max: String(s.total_bytes),
      value: String(used),
      high: String(s.total_bytes * 0.85),
      optimum: "0",
      "aria-label": tr("sys.diskUsed"),
    }),
    " ",
    tr("sys.diskFree", { free: fmtBytes(s.free_bytes), total: fmtBytes(s.total_bytes) }),
  );
}

/** Each listener or worker thread `raddx serve` started, running or stopped. */
function workers(states: SystemStatus["workers"]): HTMLElement {
  const names = Object.keys(states);
  if (!names.length) return h("span", {}, tr("sys.noWorkers"));
  return h(
    "span",
    { id: "workers" },
    ...names.flatMap((name, i) => [
      i ? ", " : "",
      h(
        "span",
        { class: states[name] === "running" ? "state ok" : "state error" },
        `${name} ${states[name] === "running" ? tr("sys.running") : tr("sys.stopped")}`,
      ),
    ]),
  );
}

async function status(): Promise<HTMLElement> {
  try {
    const s = await adminApi.status();
    const jobs = Object.entries(s.jobs);
    const ports = Object.entries(s.ports)
      .filter(([, port]) => port > 0)
      .map(([door, port]) => `${door} ${port}`)
      .join(", ");
    return section(
      "status",
      tr("sys.status"),
      facts("status-facts", [
        [tr("sys.overall"), state(s.ok)],
        [tr("sys.database"), h("span", {}, state(s.database.ok, s.database.error), ` (${s.database.dialect})`)],
        [tr("sys.storagePath"), h("code", {}, s.storage.path)],
        [tr("sys.disk"), disk(s.storage)],
        [
          tr("sys.outbox"),
          h(
            "span",
            { id: "outbox-backlog" },
            tr("sys.backlog", { pending: s.outbox.pending, failed: s.outbox.failed }),
            s.outbox.oldest_pending_at
              ? ` ${tr("sys.oldest", { time: fmtTime(s.outbox.oldest_pending_at) })}`
              : "",
          ),
        ],
        [
          tr("sys.jobs"),
          jobs.length ? jobs.map(([st, n]) => `${st} ${n}`).join(", ") : tr("sys.noJobs"),
        ],
        [tr("sys.workers"), workers(s.workers)],
        [tr("sys.aeTitle"), s.ae_title],
        [tr("sys.ports"), ports],
        [tr("sys.security"), s.security_enforced ? tr("yes") : tr("no")],
        [tr("sys.audit"), s.audit_enabled ? tr("yes") : tr("no")],
        [tr("sys.time"), fmtTime(s.server_time)],
      ]),
    );
  } catch (exc) {
    return section("status", tr("sys.status"), failure(exc));
  }
}

async function statistics(): Promise<HTMLElement> {
  try {
    const s = await adminApi.statistics();
    return section(
      "statistics",
      tr("sys.statistics"),
      facts("statistics-facts", [
        [tr("sys.patients"), fmtNumber(s.patients)],
        [tr("sys.studies"), fmtNumber(s.studies)],
        [tr("sys.series"), fmtNumber(s.series)],
        [tr("sys.instances"), fmtNumber(s.instances)],
        [tr("sys.stored"), fmtBytes(s.stored_bytes)],
        [
          tr("sys.deleted"),
          tr("sys.deletedValue", {
            count: fmtNumber(s.deleted_instances),
            bytes: fmtBytes(s.deleted_bytes),
          }),
        ],
      ]),
    );
  } catch (exc) {
    return section("statistics", tr("sys.statistics"), failure(exc));
  }
}

async function jobs(): Promise<HTMLElement> {
  const { table: tableEl, body } = table("jobs-table", tr("sys.jobsCaption"), [
    "hl7.id",
    "sys.kind",
    "hl7.status",
    "sys.remote",
    "sys.progress",
    "sys.reason",
    "hl7.created",
  ]);
  try {
    const list = await adminApi.jobs(20);
    body.append(
      ...(list.length
        ? list.map((job: Job) =>
            h(
              "tr",
              { class: `job-${job.state}` },
              cell(String(job.id)),
              cell(job.kind),
              cell(job.state),
              cell(job.remote_ae_title),
              cell(
                job.total === null
                  ? String(job.completed)
                  : tr("sys.progressValue", {
                      done: job.completed,
                      total: job.total,
                      failed: job.failed,
                    }),
              ),
              cell(job.reason ?? ""),
              cell(fmtTime(job.created_at)),
            ),
          )
        : [h("tr", {}, h("td", { colspan: "7" }, tr("sys.noJobs")))]),
    );
    return section("jobs", tr("sys.jobs"), tableEl);
  } catch (exc) {
    return section("jobs", tr("sys.jobs"), failure(exc));
  }
}
