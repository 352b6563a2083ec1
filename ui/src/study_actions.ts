// The study page's actions, each shown only to a role holding its permission (the API
// enforces them regardless): send to a remote AE (job progress), download the study as a
// zip, de-identified export (profile, job, package download), delete with confirmation and
// restore, reconcile with an order.
import type { Study } from "./api";
import { ApiError } from "./api";
import { tb } from "./browser_text";
import { h } from "./dom";
import { studyApi, type Job } from "./study_api";

function failure(exc: unknown): string {
  return tb("action.failed", { detail: exc instanceof Error ? exc.message : String(exc) });
}

/** Poll a job until it ends, telling ``status`` its progress; resolves with the last state. */
async function follow(job: Job, status: HTMLElement): Promise<Job> {
  let current = job;
  for (;;) {
    const counts = {
      id: current.id,
      state: current.state,
      done: current.completed,
      total: current.total ?? "?",
    };
    if (current.state === "done") {
      status.textContent = tb("job.done", counts);
      status.dataset.state = "done";
      return current;
    }
    if (current.state === "failed" || current.state === "interrupted") {
      status.textContent = tb("job.failed", { id: current.id, detail: current.reason ?? current.state });
      status.dataset.state = "failed";
      status.classList.add("error");
      return current;
    }
    status.textContent = tb("job.progress", counts);
    status.dataset.state = current.state;
    await new Promise((resolve) => setTimeout(resolve, 400));
    current = await studyApi.job(current.id);
  }
}

function panel(id: string, ...children: (Node | null)[]): HTMLElement {
  return h("div", { class: "panel", id }, ...children);
}

function sendAction(uid: string, permissions: string[]): HTMLElement | null {
  if (!permissions.includes("jobs.send") || !permissions.includes("remote_aes.read")) return null;
  const status = h("p", { id: "send-status", role: "status" });
  const open = h("button", { type: "button", id: "send-open", "aria-expanded": "false" }, tb("actions.send"));
  const box = h("div", { class: "action" }, open);
  open.addEventListener("click", async () => {
    open.setAttribute("aria-expanded", "true");
    open.disabled = true;
    try {
      const aes = await studyApi.remoteAes();
      if (!aes.length) {
        box.append(h("p", {}, tb("noAes")));
        return;
      }
      const select = h("select", { id: "send-ae" }, ...aes.map((ae) => h("option", { value: ae.ae_title }, `${ae.ae_title} (${ae.host}:${ae.port})`)));
      const start = h("button", { type: "button", id: "send-start" }, tb("actions.sendStart"));
      start.addEventListener("click", async () => {
        start.disabled = true;
        try {
          await follow(await studyApi.send(uid, select.value), status);
        } catch (exc) {
          status.textContent = failure(exc);
          status.classList.add("error");
        } finally {
          start.disabled = false;
        }
      });
      box.append(panel("send-panel", h("label", { for: "send-ae" }, tb("actions.sendTo")), select, start), status);
      select.focus();
    } catch (exc) {
      box.append(h("p", { class: "error" }, failure(exc)));
    }
  });
  return box;
}

function zipAction(uid: string, permissions: string[]): HTMLElement | null {
  if (!permissions.includes("dicomweb.read")) return null;
  return h("a", { href: studyApi.zipUrl(uid), id: "download-zip", class: "button", download: `${uid}.zip` }, tb("actions.zip"));
}

function deidAction(uid: string, permissions: string[]): HTMLElement | null {
  if (!permissions.includes("deid.run")) return null;
  const status = h("p", { id: "deid-status", role: "status" });
  const open = h("button", { type: "button", id: "deid-open", "aria-expanded": "false" }, tb("actions.deid"));
  const box = h("div", { class: "action" }, open);
  open.addEventListener("click", async () => {
    open.setAttribute("aria-expanded", "true");
    open.disabled = true;
    try {
      const policies = await studyApi.deidPolicies();
      const select = h("select", { id: "deid-policy" }, ...policies.map((p) => h("option", { value: p.name }, p.name)));
      const start = h("button", { type: "button", id: "deid-start" }, tb("actions.deidStart"));
      start.addEventListener("click", async () => {
        start.disabled = true;
        try {
          const job = await follow(await studyApi.deidentify(uid, select.value), status);
          if (job.state === "done" && permissions.includes("deid.download"))
            box.append(h("a", { href: studyApi.deidPackageUrl(job.id), id: "deid-download", class: "button", download: `deid-${job.id}.zip` }, tb("actions.deidDownload")));
        } catch (exc) {
          status.textContent = failure(exc);
          status.classList.add("error");
        } finally {
          start.disabled = false;
        }
      });
      box.append(panel("deid-panel", h("label", { for: "deid-policy" }, tb("actions.deidProfile")), select, start), status);
      select.focus();
    } catch (exc) {
      box.append(h("p", { class: "error" }, failure(exc)));
    }
  });
  return box;
}

function deleteAction(uid: string, permissions: string[]): HTMLElement | null {
  if (!permissions.includes("archive.delete")) return null;
  const status = h("p", { id: "delete-status", role: "status" });
  const remove = h("button", { type: "button", id: "delete-study", class: "danger" }, tb("actions.delete"));
  const restore = h("button", { type: "button", id: "restore-study", hidden: true }, tb("actions.restore"));
  const yes = h("button", { type: "button", id: "delete-confirm", class: "danger" }, tb("actions.deleteYes"));
  const no = h("button", { type: "button", id: "delete-cancel" }, tb("actions.cancel"));
  const dialog = h(
    "dialog",
    { class: "confirm", id: "delete-dialog", "aria-labelledby": "delete-question" },
    h("p", { id: "delete-question" }, tb("actions.deleteConfirm")),
    h("div", { class: "actions" }, yes, no),
  );
  remove.addEventListener("click", () => {
    dialog.showModal();
    no.focus(); // the safe choice has the focus
  });
  no.addEventListener("click", () => {
    dialog.close();
    remove.focus();
  });
  yes.addEventListener("click", async () => {
    dialog.close();
    try {
      await studyApi.remove(uid);
      status.textContent = tb("actions.deleted");
      remove.hidden = true;
      restore.hidden = false;
      restore.focus();
    } catch (exc) {
      status.textContent = failure(exc);
    }
  });
  restore.addEventListener("click", async () => {
    try {
      await studyApi.restore(uid);
      status.textContent = tb("actions.restored");
      restore.hidden = true;
      remove.hidden = false;
      remove.focus();
    } catch (exc) {
      status.textContent = failure(exc);
    }
  });
  return h("div", { class: "action" }, remove, restore, dialog, status);
}

function reconcileAction(study: Study, permissions: string[]): HTMLElement | null {
  if (!permissions.includes("reconciliation.write")) return null;
  const status = h("p", { id: "reconcile-status", role: "status" });
  const accession = h("input", { id: "reconcile-acc", autocomplete: "off", value: study.AccessionNumber ?? "" });
  const start = h("button", { type: "button", id: "reconcile-start" }, tb("actions.reconcileStart"));
  start.addEventListener("click", async () => {
    const acc = accession.value.trim();
    if (!acc) return;
    start.disabled = true;
    try {
      const done = await studyApi.reconcile(study.StudyInstanceUID, acc, "study browser: linked by hand");
      status.textContent = tb("actions.reconciled", { acc: done.AccessionNumber ?? acc });
    } catch (exc) {
      status.textContent = exc instanceof ApiError ? failure(exc) : String(exc);
      status.classList.add("error");
    } finally {
      start.disabled = false;
    }
  });
  return h(
    "div",
    { class: "action" },
    panel("reconcile-panel", h("label", { for: "reconcile-acc" }, tb("actions.reconcileAcc")), accession, start),
    status,
  );
}

/** The actions this principal may take on the study (an empty section when none). */
export function studyActions(study: Study, permissions: string[]): HTMLElement {
  const uid = study.StudyInstanceUID;
  const actions = [
    sendAction(uid, permissions),
    zipAction(uid, permissions),
    deidAction(uid, permissions),
    reconcileAction(study, permissions),
    deleteAction(uid, permissions),
  ].filter((a): a is HTMLElement => a !== null);
  if (!actions.length) return h("section", { id: "study-actions", hidden: true });
  return h(
    "section",
    { id: "study-actions", "aria-labelledby": "actions-title" },
    h("h2", { id: "actions-title" }, tb("actions.title")),
    h("div", { class: "study-actions" }, ...actions),
  );
}
