import { renderEnrolment } from "./admin_account";
import { api, ApiError, type WhoAmI } from "./api";
import { h } from "./dom";
import { t } from "./i18n";

/** The login form; calls ``done`` with the new principal. */
export function renderLogin(main: HTMLElement, done: (who: WhoAmI) => void): void {
  const error = h("p", { id: "login-error", class: "error", role: "alert" });
  const user = h("input", { id: "login-user", name: "username", autocomplete: "username", required: true });
  const password = h("input", {
    id: "login-password",
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const otp = h("input", {
    id: "login-otp",
    name: "otp",
    inputmode: "numeric",
    autocomplete: "one-time-code",
  });
  const submit = h("button", { type: "submit" }, t("login.submit"));
  const form = h(
    "form",
    { id: "login-form", class: "login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, t("login.title")),
    h("label", { for: "login-user" }, t("login.user")),
    user,
    h("label", { for: "login-password" }, t("login.password")),
    password,
    h("label", { for: "login-otp" }, t("login.otp")),
    otp,
    submit,
    error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    submit.disabled = true;
    try {
      const who = await api.login(user.value, password.value, otp.value);
      if (who.mfa_enrolment_required) {
        renderMfaEnrolment(main, done);
        return;
      }
      done(who);
    } catch (exc) {
      const detail = exc instanceof ApiError ? exc.message : String(exc);
      error.textContent = t("login.failed", { detail });
      password.value = "";
      password.focus();
    } finally {
      submit.disabled = false;
    }
  });
  main.replaceChildren(form);
  user.focus();
}

/**
 * The role requires 2FA and the account has none: this session may only enrol (the API grants
 * it nothing else). Enrol now; once confirmed, the same session holds the role's permissions
 * and ``done`` gets the principal.
 */
export function renderMfaEnrolment(main: HTMLElement, done: (who: WhoAmI) => void): void {
  const steps = h("div", { id: "login-enrol" });
  main.replaceChildren(
    h(
      "div",
      { class: "login" },
      h("h1", {}, t("login.enrolTitle")),
      h("p", { role: "status" }, t("login.mfa")),
      steps,
    ),
  );
  renderEnrolment(steps, () => void api.whoami().then(done));
}
