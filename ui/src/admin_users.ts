// Users and roles (permission admin.users): accounts (add, role, disable/enable, unlock,
// reset 2FA), the roles of the site's policy, and API tokens (create: shown once; revoke).
// Every change is audited by the API (Security Alert 110137 / 110136).
import { adminApi, type Role, type Token, type User } from "./admin_api";
import { tr } from "./admin_strings";
import { cell, failure, field, fmtTime, notice, page, section, select, table } from "./admin_ui";
import { h } from "./dom";

export async function renderUsers(main: HTMLElement): Promise<void> {
  const body = page(main, tr("users.title"));
  let roles: Role[];
  try {
    roles = await adminApi.roles();
  } catch (exc) {
    body.append(failure(exc));
    return;
  }
  const roleOptions = roles.map((r): [string, string] => [r.name, r.name]);
  const users = usersSection(roleOptions);
  const tokens = tokensSection(roleOptions);
  body.append(users.el, rolesSection(roles), tokens.el);
  await Promise.all([users.load(), tokens.load()]);
}

function usersSection(roleOptions: [string, string][]) {
  const message = notice("users-notice");
  const { table: tableEl, body } = table("users-table", tr("users.caption"), [
    "users.name",
    "users.displayName",
    "users.role",
    "users.state",
    "users.2fa",
    "users.created",
    "users.actions",
  ]);

  async function act(run: () => Promise<unknown>, done: string): Promise<void> {
    message.clear();
    try {
      await run();
      message.ok(done);
    } catch (exc) {
      message.fail(exc);
    }
    await load();
  }

  function row(user: User): HTMLTableRowElement {
    const locked = user.locked_until !== null && new Date(user.locked_until) > new Date();
    const state = user.disabled
      ? tr("users.disabled")
      : locked
        ? tr("users.lockedUntil", { time: fmtTime(user.locked_until) })
        : tr("users.active");
    const roleSelect = select(
      { id: `role-of-${user.name}`, "aria-label": tr("users.roleOf", { name: user.name }) },
      roleOptions,
      user.role,
    );
    const shown = h("input", {
      id: `display-name-of-${user.name}`,
      "aria-label": tr("users.displayNameOf", { name: user.name }),
      lang: "ja",
      maxlength: "200",
      value: user.display_name ?? "",
    });
    const saveName = h(
      "button",
      {
        type: "button",
        onclick: () =>
          act(
            () => adminApi.setDisplayName(user.name, shown.value.trim()),
            tr("users.displayNameSaved", { name: user.name }),
          ),
      },
      tr("users.saveDisplayName"),
    );
    const buttons = [
      h(
        "button",
        {
          type: "button",
          onclick: () =>
            act(
              () => adminApi.setRole(user.name, roleSelect.value),
              tr("users.roleChanged", { name: user.name, role: roleSelect.value }),
            ),
        },
        tr("users.changeRole"),
      ),
      user.disabled
        ? h(
            "button",
            {
              type: "button",
              onclick: () =>
                act(
                  () => adminApi.userAction(user.name, "enable"),
                  tr("users.enabled", { name: user.name }),
                ),
            },
            tr("users.enable"),
          )
        : h(
            "button",
            {
              type: "button",
              onclick: () =>
                act(
                  () => adminApi.userAction(user.name, "disable"),
                  tr("users.disabledDone", { name: user.name }),
                ),
            },
            tr("users.disable"),
          ),
      locked
        ? h(
            "button",
            {
              type: "button",
              onclick: () =>
                act(
                  () => adminApi.userAction(user.name, "unlock"),
                  tr("users.unlocked", { name: user.name }),
                ),
            },
            tr("users.unlock"),
          )
        : null,
      user.totp_enrolled
        ? h(
            "button",
            {
              type: "button",
              onclick: () => {
                if (!confirm(tr("users.reset2faConfirm", { name: user.name }))) return;
                void act(
                  () => adminApi.userAction(user.name, "reset-2fa"),
                  tr("users.reset2faDone", { name: user.name }),
                );
              },
            },
            tr("users.reset2fa"),
          )
        : null,
    ];
    return h(
      "tr",
      { "data-user": user.name },
      cell(h("strong", {}, user.name)),
      cell(h("span", { class: "role-edit" }, shown, saveName)),
      cell(h("span", { class: "role-edit" }, roleSelect)),
      cell(state),
      cell(user.totp_enrolled ? tr("users.2faOn") : tr("users.2faOff")),
      cell(fmtTime(user.created_at)),
      cell(h("span", { class: "actions" }, ...buttons)),
    );
  }

  async function load(): Promise<void> {
    try {
      const users = await adminApi.users();
      body.replaceChildren(...users.map(row));
    } catch (exc) {
      body.replaceChildren(h("tr", {}, h("td", { colspan: "7" }, failure(exc))));
    }
  }

  const name = h("input", { id: "user-name", name: "name", required: true, maxlength: "64" });
  const displayName = h("input", {
    id: "user-display-name",
    name: "display_name",
    lang: "ja",
    maxlength: "200",
    placeholder: "Tanaka^Taro=田中^太郎=たなか^たろう",
  });
  const role = select({ id: "user-role", name: "role" }, roleOptions, "viewer");
  const password = h("input", {
    id: "user-password",
    name: "password",
    type: "password",
    autocomplete: "new-password",
    required: true,
  });
  const addMessage = notice("user-add-notice");
  const form = h(
    "form",
    { id: "user-add", class: "admin-form", "aria-labelledby": "user-add-title" },
    h("h3", { id: "user-add-title" }, tr("users.add")),
    field(tr("users.name"), name),
    field(tr("users.displayName"), displayName),
    h("p", { class: "help" }, tr("users.displayNameHelp")),
    field(tr("users.role"), role),
    field(tr("users.password"), password),
    h("button", { type: "submit" }, tr("users.addSubmit")),
    addMessage.el,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    addMessage.clear();
    try {
      await adminApi.addUser(name.value.trim(), role.value, password.value, displayName.value.trim());
      addMessage.ok(tr("users.added", { name: name.value.trim(), role: role.value }));
      name.value = "";
      displayName.value = "";
      password.value = "";
      await load();
    } catch (exc) {
      // The password policy's reason (length, reuse, name in it…) comes from the API.
      addMessage.fail(exc);
    }
  });

  return {
    el: section("users", tr("users.section"), message.el, tableEl, form),
    load,
  };
}

function rolesSection(roles: Role[]): HTMLElement {
  const { table: tableEl, body } = table("roles-table", tr("roles.caption"), [
    "roles.name",
    "roles.description",
    "roles.permissions",
  ]);
  body.append(
    ...roles.map((r) =>
      h(
        "tr",
        {},
        cell(h("strong", {}, r.name)),
        cell(r.description),
        cell(h("span", { class: "perms" }, r.permissions.join(", "))),
      ),
    ),
  );
  return section("roles", tr("roles.section"), h("p", { class: "help" }, tr("roles.help")), tableEl);
}

function tokensSection(roleOptions: [string, string][]) {
  const message = notice("tokens-notice");
  const created = h("div", { id: "token-created", class: "once", hidden: true });
  const { table: tableEl, body } = table("tokens-table", tr("tokens.caption"), [
    "tokens.name",
    "tokens.role",
    "tokens.created",
    "tokens.expires",
    "tokens.state",
    "users.actions",
  ]);

  function row(token: Token): HTMLTableRowElement {
    const revoke = token.revoked
      ? null
      : h(
          "button",
          {
            type: "button",
            onclick: async () => {
              if (!confirm(tr("tokens.revokeConfirm", { name: token.name }))) return;
              message.clear();
              try {
                await adminApi.revokeToken(token.name);
                message.ok(tr("tokens.revoked", { name: token.name }));
              } catch (exc) {
                message.fail(exc);
              }
              await load();
            },
          },
          tr("tokens.revoke"),
        );
    return h(
      "tr",
      { "data-token": token.name },
      cell(h("strong", {}, token.name)),
      cell(token.role),
      cell(fmtTime(token.created_at)),
      cell(token.expires_at ? fmtTime(token.expires_at) : tr("tokens.never")),
      cell(token.revoked ? tr("tokens.stateRevoked") : tr("tokens.stateActive")),
      cell(revoke),
    );
  }

  async function load(): Promise<void> {
    try {
      body.replaceChildren(...(await adminApi.tokens()).map(row));
    } catch (exc) {
      body.replaceChildren(h("tr", {}, h("td", { colspan: "6" }, failure(exc))));
    }
  }

  const name = h("input", { id: "token-name", name: "name", required: true, maxlength: "64" });
  const role = select({ id: "token-role", name: "role" }, roleOptions, "viewer");
  const form = h(
    "form",
    { id: "token-add", class: "admin-form", "aria-labelledby": "token-add-title" },
    h("h3", { id: "token-add-title" }, tr("tokens.add")),
    field(tr("tokens.name"), name),
    field(tr("tokens.role"), role),
    h("button", { type: "submit" }, tr("tokens.addSubmit")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.clear();
    created.hidden = true;
    try {
      const made = await adminApi.addToken(name.value.trim(), role.value);
      created.replaceChildren(
        h("p", {}, tr("tokens.once", { name: made.name })),
        h("code", { id: "token-text" }, made.token),
      );
      created.hidden = false;
      name.value = "";
      await load();
    } catch (exc) {
      message.fail(exc);
    }
  });
  return {
    el: section("tokens", tr("tokens.section"), message.el, created, tableEl, form),
    load,
  };
}
