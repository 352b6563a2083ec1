// My account (every logged-in user): two-factor authentication enrolment (RFC 6238 TOTP) and
// password change. The enrolment is also what the login leads to when the role requires 2FA
// and the account has none yet (login.ts).
//
// The QR code comes from the API as an image (the server draws it): the UI needs no QR
// library, and the secret and otpauth URI stay shown as text for apps that cannot scan.
import { adminApi, type Enrolment } from "./admin_api";
import { tr } from "./admin_strings";
import { errorText, field, notice, page, section } from "./admin_ui";
import { ApiError } from "./api";
import { h } from "./dom";

export function renderAccount(main: HTMLElement): void {
  const body = page(main, tr("account.title"));
  const twoFactor = h("div", { id: "enrol-area" });
  renderEnrolment(twoFactor);
  body.append(section("twofa", tr("enrol.section"), twoFactor), passwordSection());
}

/** Groups of four characters, as authenticator apps show secrets. */
function grouped(secret: string): string {
  return secret.replace(/(.{4})(?=.)/g, "$1 ");
}

/**
 * The enrolment steps in `container`: start (the API makes a secret), show the secret and the
 * otpauth URI, confirm with a code from the app, show the recovery codes once. `done`, when
 * given, is offered as a "continue" button at the end (the login flow).
 */
export function renderEnrolment(container: HTMLElement, done?: () => void): void {
  const message = notice("enrol-notice");
  const start = h("button", { type: "button", id: "enrol-start" }, tr("enrol.start"));
  container.replaceChildren(h("p", {}, tr("enrol.intro")), start, message.el);
  start.addEventListener("click", async () => {
    message.clear();
    start.disabled = true;
    try {
      const enrolment = await adminApi.enrol();
      showSecret(container, enrolment, done);
    } catch (exc) {
      start.disabled = false;
      if (exc instanceof ApiError && exc.status === 409) {
        message.ok(tr("enrol.already"));
      } else {
        message.fail(exc);
      }
    }
  });
}

function showSecret(container: HTMLElement, enrolment: Enrolment, done?: () => void): void {
  const { secret, otpauth_uri: uri } = enrolment;
  const message = notice("enrol-confirm-notice");
  const code = h("input", {
    id: "enrol-code",
    name: "code",
    inputmode: "numeric",
    autocomplete: "one-time-code",
    pattern: "[0-9 ]{6,8}",
    required: true,
  });
  const submit = h("button", { type: "submit" }, tr("enrol.confirm"));
  const form = h(
    "form",
    { id: "enrol-confirm", class: "admin-form" },
    field(tr("enrol.code"), code),
    submit,
    message.el,
  );
  container.replaceChildren(
    h("p", {}, tr("enrol.noQr")),
    h("img", { id: "enrol-qr", class: "qr", src: enrolment.qr, alt: tr("enrol.qr") }),
    h(
      "dl",
      { class: "secret" },
      h("dt", {}, tr("enrol.secret")),
      h("dd", {}, h("code", { id: "enrol-secret", "data-secret": secret }, grouped(secret))),
      h("dt", {}, tr("enrol.uri")),
      h("dd", {}, h("a", { id: "enrol-uri", href: uri }, h("code", {}, uri))),
    ),
    form,
  );
  code.focus();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.clear();
    submit.disabled = true;
    try {
      const { recovery_codes } = await adminApi.confirm(code.value.replace(/\s/g, ""));
      showRecoveryCodes(container, recovery_codes, done);
    } catch (exc) {
      message.fail(exc);
      code.select();
    } finally {
      submit.disabled = false;
    }
  });
}

function showRecoveryCodes(container: HTMLElement, codes: string[], done?: () => void): void {
  const next = done
    ? h("button", { type: "button", id: "enrol-continue", onclick: () => done() }, tr("enrol.continue"))
    : null;
  container.replaceChildren(
    h("p", { role: "status", id: "enrol-done", class: "notice ok" }, tr("enrol.done")),
    h("p", {}, tr("enrol.recovery")),
    h("ol", { id: "recovery-codes", class: "once" }, ...codes.map((c) => h("li", {}, h("code", {}, c)))),
    ...(next ? [next] : []),
  );
  next?.focus();
}

function passwordSection(): HTMLElement {
  const message = notice("password-notice");
  const current = h("input", {
    id: "pw-current",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const next = h("input", {
    id: "pw-new",
    type: "password",
    autocomplete: "new-password",
    required: true,
  });
  const again = h("input", {
    id: "pw-again",
    type: "password",
    autocomplete: "new-password",
    required: true,
  });
  const form = h(
    "form",
    { id: "password-form", class: "admin-form" },
    field(tr("pw.current"), current),
    field(tr("pw.new"), next),
    field(tr("pw.again"), again),
    h("button", { type: "submit" }, tr("pw.submit")),
    message.el,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.clear();
    if (next.value !== again.value) {
      message.fail(new Error(tr("pw.mismatch")));
      again.focus();
      return;
    }
    try {
      await adminApi.changePassword(current.value, next.value);
      message.ok(tr("pw.changed"));
      form.reset();
    } catch (exc) {
      message.fail(new Error(errorText(exc)));
    }
  });
  return section("password", tr("pw.section"), form);
}
