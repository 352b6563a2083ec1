// Remote AEs (remote_aes.read; add/remove with remote_aes.write; C-ECHO with remote_aes.echo).
// Those configured in raddx.toml are listed but changed only there.
import { adminApi, type RemoteAE } from "./admin_api";
import { tr } from "./admin_strings";
import { cell, failure, field, notice, page, section, table } from "./admin_ui";
import type { WhoAmI } from "./api";
import { h } from "./dom";

export async function renderRemoteAes(main: HTMLElement, who: WhoAmI): Promise<void> {
  const body = page(main, tr("ae.title"));
  const may = (permission: string) => who.permissions.includes(permission);
  const message = notice("ae-notice");
  const { table: tableEl, body: rows } = table("ae-table", tr("ae.caption"), [
    "ae.aeTitle",
    "ae.host",
    "ae.port",
    "ae.description",
    "ae.source",
    "ae.echo",
    "users.actions",
  ]);

  function row(ae: RemoteAE): HTMLTableRowElement {
    const result = h("span", { class: "echo-result", role: "status", "aria-live": "polite" });
    const echo = may("remote_aes.echo")
      ? h(
          "button",
          {
            type: "button",
            "aria-label": tr("ae.echoOf", { title: ae.ae_title }),
            onclick: async (event: Event) => {
              const button = event.currentTarget as HTMLButtonElement;
              button.disabled = true;
              result.className = "echo-result";
              result.textContent = tr("ae.echoing");
              try {
                const outcome = await adminApi.echo(ae.ae_title);
                result.className = `echo-result ${outcome.success ? "ok" : "error"}`;
                result.textContent = outcome.success
                  ? tr("ae.echoOk", { ms: (outcome.round_trip_ms ?? 0).toFixed(0) })
                  : tr("ae.echoFailed", {
                      reason:
                        outcome.reason ||
                        (outcome.status === null
                          ? tr("ae.noAssociation")
                          : `0x${outcome.status.toString(16).padStart(4, "0")}`),
                    });
              } catch (exc) {
                result.className = "echo-result error";
                result.textContent = failure(exc).textContent ?? "";
              } finally {
                button.disabled = false;
              }
            },
          },
          tr("ae.echoButton"),
        )
      : null;
    const remove =
      may("remote_aes.write") && ae.source === "runtime"
        ? h(
            "button",
            {
              type: "button",
              "aria-label": tr("ae.removeOf", { title: ae.ae_title }),
              onclick: async () => {
                if (!confirm(tr("ae.removeConfirm", { title: ae.ae_title }))) return;
                message.clear();
                try {
                  await adminApi.removeRemoteAe(ae.ae_title);
                  message.ok(tr("ae.removed", { title: ae.ae_title }));
                } catch (exc) {
                  message.fail(exc);
                }
                await load();
              },
            },
            tr("ae.remove"),
          )
        : null;
    return h(
      "tr",
      { "data-ae": ae.ae_title },
      cell(h("strong", {}, ae.ae_title)),
      cell(ae.host),
      cell(String(ae.port)),
      cell(ae.description),
      cell(ae.source === "config" ? tr("ae.fromConfig") : tr("ae.fromApi")),
      cell(h("span", { class: "actions" }, echo, result)),
      cell(remove),
    );
  }

  async function load(): Promise<boolean> {
    try {
      const aes = await adminApi.remoteAes();
      rows.replaceChildren(
        ...(aes.length ? aes.map(row) : [h("tr", {}, h("td", { colspan: "7" }, tr("ae.none")))]),
      );
      return true;
    } catch (exc) {
      body.replaceChildren(failure(exc));
      return false;
    }
  }

  body.append(section("ae-list", tr("ae.section"), message.el, tableEl));
  if (!(await load())) return;
  if (may("remote_aes.write")) body.append(addForm(load));
}

function addForm(reload: () => Promise<boolean>): HTMLElement {
  const message = notice("ae-add-notice");
  const title = h("input", { id: "ae-add-title-input", required: true, maxlength: "16" });
  const host = h("input", { id: "ae-add-host", required: true, maxlength: "253" });
  const port = h("input", {
    id: "ae-add-port",
    type: "number",
    min: "1",
    max: "65535",
    required: true,
    value: "104",
  });
  const description = h("input", { id: "ae-add-description", maxlength: "1024" });
  const form = h(
    "form",
    { id: "ae-add", class: "admin-form" },
    field(tr("ae.aeTitle"), title),
    field(tr("ae.host"), host),
    field(tr("ae.port"), port),
    field(tr("ae.description"), description),
    h("button", { type: "submit" }, tr("ae.addSubmit")),
    message.el,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.clear();
    try {
      const added = await adminApi.addRemoteAe({
        ae_title: title.value,
        host: host.value.trim(),
        port: Number(port.value),
        description: description.value,
      });
      message.ok(tr("ae.added", { title: added.ae_title }));
      form.reset();
      await reload();
    } catch (exc) {
      message.fail(exc);
    }
  });
  return section("ae-add-section", tr("ae.add"), form);
}
