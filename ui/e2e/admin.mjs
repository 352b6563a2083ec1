// End-to-end check of the administration pages in Debian's Chromium (playwright-core):
//   node ui/e2e/admin.mjs <base-url> <screenshot-dir> <admin> <admin-pw> <auditor> <auditor-pw>
//        <viewer> <viewer-pw> <echo-host> <echo-port> <dead-port> <locked-user>
//
// The admin logs in for the first time (the admin role requires 2FA: the login leads to the
// enrolment, with a TOTP code computed here, RFC 6238), adds a user (a weak password first),
// creates and revokes an API token, adds two remote AEs (a live C-ECHO SCP and a dead port)
// and echoes both, looks at the system and HL7 pages. A viewer opening the users page by its
// URL is refused. The auditor finds the admin's user creation and the viewer's refusal in
// the audit log. Prints one "ok: ..." line per check (tests/e2e/test_ui_admin.py).
import { createHmac } from "node:crypto";
import { check, login, run } from "./lib.mjs";

const [base, shots, admin, adminPw, auditor, auditorPw, viewer, viewerPw, echoHost, echoPort, deadPort, lockedUser] =
  process.argv.slice(2);
if (!lockedUser) {
  console.error("usage: admin.mjs <base> <shots> <admin> <pw> <auditor> <pw> <viewer> <pw> <host> <port> <dead-port> <locked-user>");
  process.exit(2);
}
const NEW_USER = "看護師-田中";
const NEW_PASSWORD = "a long enough passphrase 42";

/** RFC 6238 TOTP (HMAC-SHA1, 6 digits, 30 s) of a base32 secret at `when` (ms). */
function totp(secret, when) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of secret.replace(/=+$/, "").toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(when / 1000 / 30)));
  const digest = createHmac("sha1", key).update(counter).digest();
  const offset = digest[digest.length - 1] & 0x0f;
  return String((digest.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

async function newPage(browser) {
  const context = await browser.newContext({ locale: "ja-JP", viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.on("dialog", (dialog) => dialog.accept()); // confirm() of revoke / remove
  return page;
}

await run(shots, async ({ browser, shot }) => {
  // --- first login of the admin: 2FA enrolment ------------------------------------------------
  const page = await newPage(browser);
  const errors = [];
  page.on("pageerror", (err) => errors.push(String(err)));
  await login(page, base, admin, adminPw);
  await page.getByRole("heading", { name: "二要素認証の設定" }).waitFor();
  check(true, "an admin without 2FA is led from the login to the enrolment");
  await page.getByRole("button", { name: "二要素認証を設定する" }).click();
  await page.locator("#enrol-secret").waitFor();
  // Reloading mid-enrolment (the session may do nothing else) comes back to the enrolment.
  await page.reload();
  await page.getByRole("heading", { name: "二要素認証の設定" }).waitFor();
  check((await page.locator("#login-form").count()) === 0, "reloading mid-enrolment returns to the enrolment, not the login");
  await page.getByRole("button", { name: "二要素認証を設定する" }).click();
  const secret = await page.locator("#enrol-secret").getAttribute("data-secret");
  const uri = await page.locator("#enrol-uri").getAttribute("href");
  check(secret && uri.startsWith("otpauth://totp/") && uri.includes(`secret=${secret}`), "the secret and the otpauth URI are shown");
  const qr = page.getByRole("img", { name: "認証アプリ用の QR コード" });
  const qrWidth = await qr.evaluate((img) => (img.complete ? img.naturalWidth : 0));
  check(qrWidth >= 200, `the QR code image is shown (${qrWidth} px wide)`);
  await shot("01-enrol-secret", page);
  await page.getByLabel("アプリに表示されたコード").fill("000000");
  await page.getByRole("button", { name: "確認", exact: true }).click();
  await page.locator("#enrol-confirm-notice.error").waitFor();
  check(true, "a wrong code is refused with a message");
  const now = Date.now();
  const code = totp(secret, now);
  console.log(`totp: secret=${secret} at=${now} code=${code}`);
  await page.getByLabel("アプリに表示されたコード").fill(code);
  await page.getByRole("button", { name: "確認", exact: true }).click();
  await page.locator("#recovery-codes li").first().waitFor();
  check((await page.locator("#recovery-codes li").count()) === 10, "confirming shows ten recovery codes once");
  await shot("02-enrol-recovery-codes", page);
  await page.getByRole("button", { name: "続ける" }).click();
  await page.locator("#who").filter({ hasText: `${admin} (admin)` }).waitFor();
  check(true, "after enrolment the same session is the admin");

  // --- administration index --------------------------------------------------------------------
  await page.goto(`${base}/ui/#/admin`);
  await page.locator("ul.admin-index").waitFor();
  const entries = await page.locator("ul.admin-index a").allTextContents();
  check(entries.length === 6, `the admin sees every administration page (${entries.join(", ")})`);
  await shot("03-admin-index", page);
  await page.locator("#lang").selectOption("en");
  await page.getByRole("heading", { name: "Administration" }).waitFor();
  check(
    (await page.locator("ul.admin-index a").allTextContents()).includes("Users and roles"),
    "the administration pages are in English too",
  );
  await page.locator("#lang").selectOption("ja");
  await page.getByRole("heading", { name: "管理" }).waitFor();

  // --- users -----------------------------------------------------------------------------------
  await page.getByRole("link", { name: "ユーザーとロール" }).click();
  await page.locator("#users-table tbody tr").first().waitFor();
  await page.getByLabel("ユーザー名", { exact: true }).fill(NEW_USER);
  await page.locator("#user-role").selectOption("viewer");
  await page.getByLabel("表示名", { exact: true }).fill("Kensa^Hanako=検査^花子=けんさ^はなこ");
  await page.getByLabel("初期パスワード").fill("short");
  await page.getByRole("button", { name: "ユーザーを追加" }).click();
  const weak = page.locator("#user-add-notice.error");
  await weak.waitFor();
  check(/13|characters|文字/.test(await weak.textContent()), "a password the policy refuses is refused with the policy's reason");
  await page.getByLabel("初期パスワード").fill(NEW_PASSWORD);
  await page.getByRole("button", { name: "ユーザーを追加" }).click();
  await page.locator("#user-add-notice.ok").waitFor();
  const row = page.locator(`#users-table tr[data-user="${NEW_USER}"]`);
  await row.waitFor();
  check((await row.textContent()).includes("有効"), "the new user is listed, active");
  const shownName = row.getByLabel(`${NEW_USER} の表示名`);
  check(
    (await shownName.inputValue()) === "Kensa^Hanako=検査^花子=けんさ^はなこ",
    "the display name (romaji=kanji=kana) is stored with the new user",
  );
  await shownName.fill("Kensa=検査^花子=けんさ=ほか");
  await row.getByRole("button", { name: "表示名を保存" }).click();
  await page.locator("#users-notice.error").waitFor();
  // The list is reloaded after every action: wait for the stored value to be shown again.
  const shownIs = (value) =>
    page.waitForFunction(
      ([name, want]) => document.getElementById(`display-name-of-${name}`)?.value === want,
      [NEW_USER, value],
    );
  await shownIs("Kensa^Hanako=検査^花子=けんさ^はなこ");
  check(true, "a display name with four groups is refused, the stored one kept");
  await row.getByLabel(`${NEW_USER} の表示名`).fill("=検査^花子");
  await row.getByRole("button", { name: "表示名を保存" }).click();
  await page.locator("#users-notice.ok").waitFor();
  await shownIs("=検査^花子");
  check(true, "a changed display name is saved");
  await row.getByRole("button", { name: "無効にする" }).click();
  await row.filter({ hasText: "無効" }).getByRole("button", { name: "有効にする" }).waitFor();
  check(true, "disabling the user shows it disabled, with an enable button");
  await row.getByRole("button", { name: "有効にする" }).click();
  await row.getByRole("button", { name: "無効にする" }).waitFor();
  const locked = page.locator(`#users-table tr[data-user="${lockedUser}"]`);
  check((await locked.textContent()).includes("ロック中"), "an account locked by failed logins shows locked");
  await locked.getByRole("button", { name: "ロック解除" }).click();
  await locked.getByRole("button", { name: "ロック解除" }).waitFor({ state: "detached" });
  check((await locked.locator("td").nth(3).textContent()) === "有効", "unlocking it makes it active again");
  check((await page.locator("#roles-table tbody tr").count()) === 6, "the six roles are listed with their permissions");
  await page.getByLabel("トークン名").fill("modality-router");
  await page.locator("#token-role").selectOption("technologist");
  await page.getByRole("button", { name: "トークンを作成" }).click();
  const token = (await page.locator("#token-text").textContent()) ?? "";
  check(token.length >= 20, "a created API token is shown once");
  await shot("04-users", page);
  const tokenRow = page.locator('#tokens-table tr[data-token="modality-router"]');
  await tokenRow.getByRole("button", { name: "失効させる" }).click();
  await tokenRow.getByRole("button", { name: "失効させる" }).waitFor({ state: "detached" });
  check((await tokenRow.locator("td").nth(4).textContent()) === "失効", "a revoked token is shown revoked");

  // --- remote AEs and C-ECHO -------------------------------------------------------------------
  await page.goto(`${base}/ui/#/admin/remote-aes`);
  await page.locator("#ae-add").waitFor();
  for (const [title, port] of [["ECHO-PEER", echoPort], ["DEAD-PEER", deadPort]]) {
    await page.getByLabel("AE タイトル").fill(title);
    await page.getByLabel("ホスト").fill(echoHost);
    await page.getByLabel("ポート").fill(String(port));
    await page.getByRole("button", { name: "リモート AE を追加" }).click();
    await page.locator(`#ae-table tr[data-ae="${title}"]`).waitFor();
  }
  check(true, "two remote AEs are added");
  const live = page.locator('#ae-table tr[data-ae="ECHO-PEER"]');
  await live.getByRole("button", { name: "ECHO-PEER に C-ECHO" }).click();
  await live.locator(".echo-result.ok").waitFor({ timeout: 30_000 });
  check((await live.locator(".echo-result").textContent()).startsWith("成功"), "C-ECHO of the live peer succeeds");
  const dead = page.locator('#ae-table tr[data-ae="DEAD-PEER"]');
  await dead.getByRole("button", { name: "DEAD-PEER に C-ECHO" }).click();
  await dead.locator(".echo-result.error").waitFor({ timeout: 60_000 });
  const deadText = await dead.locator(".echo-result").textContent();
  check(deadText.startsWith("失敗") && deadText.length > 4, `C-ECHO of an unreachable peer fails with a reason (${deadText})`);
  await shot("05-remote-aes", page);
  await dead.getByRole("button", { name: "DEAD-PEER を削除" }).click();
  await dead.waitFor({ state: "detached" });
  check(true, "a remote AE is removed");

  // --- storage, queues, health; HL7 ------------------------------------------------------------
  await page.goto(`${base}/ui/#/admin/system`);
  await page.locator("#status-facts").waitFor();
  const status = await page.locator("#status-facts").textContent();
  check(/空き .+／全体/.test(status), "the system page shows the storage disk's free space");
  check((await page.locator("#health-facts").textContent()).includes("正常"), "the health check says OK");
  await page.locator("#statistics-facts").waitFor();
  await page.locator("#jobs-table").waitFor();
  await shot("06-system", page);
  await page.goto(`${base}/ui/#/admin/hl7`);
  await page.locator("#outbox-table").waitFor();
  await page.locator("#hl7-dest").waitFor();
  check(true, "the HL7 page shows the destinations and the outbox");
  const failedRow = page.locator("#outbox-table tr.outbox-failed").first();
  await failedRow.waitFor();
  await shot("07-hl7", page);
  await failedRow.getByRole("button", { name: "再送" }).click();
  await page.locator("#outbox-notice.ok").waitFor();
  await page.locator("#outbox-table tr.outbox-pending").first().waitFor();
  check(true, "a refused HL7 delivery is queued again with Retry");
  check(errors.length === 0, `no script errors (${errors.join("; ")})`);

  // --- a viewer opening the users page directly ------------------------------------------------
  const viewerPage = await newPage(browser);
  await login(viewerPage, base, viewer, viewerPw);
  await viewerPage.goto(`${base}/ui/#/admin`);
  await viewerPage.locator("ul.admin-index").waitFor();
  const viewerEntries = await viewerPage.locator("ul.admin-index a").allTextContents();
  check(viewerEntries.length === 1 && viewerEntries[0] === "アカウント設定", "a viewer's index lists only their own account page");
  await viewerPage.goto(`${base}/ui/#/admin/users`);
  const refused = viewerPage.locator("[data-refused]");
  await refused.waitFor();
  check((await refused.textContent()).includes("admin.users"), "a viewer opening #/admin/users is refused, naming the permission");
  await shot("08-viewer-refused", viewerPage);
  // Every user has "my account": a password change (the repeat must match).
  await viewerPage.goto(`${base}/ui/#/admin/account`);
  await viewerPage.getByLabel("現在のパスワード").fill(viewerPw);
  await viewerPage.getByLabel("新しいパスワード", { exact: true }).fill("a new long passphrase 12");
  await viewerPage.getByLabel("新しいパスワード（確認）").fill("a different one");
  await viewerPage.getByRole("button", { name: "パスワードを変更" }).click();
  await viewerPage.locator("#password-notice.error").waitFor();
  check(true, "a mistyped repeat of the new password is caught");
  await viewerPage.getByLabel("新しいパスワード（確認）").fill("a new long passphrase 12");
  await viewerPage.getByRole("button", { name: "パスワードを変更" }).click();
  await viewerPage.locator("#password-notice.ok").waitFor();
  check(true, "a user changes their own password");

  // --- the auditor finds the admin's user creation and the refusal -----------------------------
  const auditPage = await newPage(browser);
  await login(auditPage, base, auditor, auditorPw, { hash: "#/admin/audit" });
  await auditPage.locator("#audit-search").waitFor();
  await auditPage.getByLabel("イベント", { exact: true }).selectOption("110113");
  // The audit trail is written in batches: search again until the records are there.
  const deadline = Date.now() + 30_000;
  let created = 0;
  let refusal = 0;
  while (Date.now() < deadline) {
    await auditPage.getByRole("button", { name: "検索" }).click();
    await auditPage.locator("#audit-status").filter({ hasText: /件目|ありません/ }).waitFor();
    const rows = auditPage.locator("#audit-table tbody tr");
    created = await rows.filter({ hasText: admin }).filter({ hasText: `user created with role viewer` }).count();
    refusal = await rows.filter({ hasText: viewer }).filter({ hasText: "/api/auth/roles" }).count();
    if (created && refusal) break;
    await auditPage.waitForTimeout(500);
  }
  check(created === 1, "the auditor finds the admin's user creation (110113 / 110137)");
  const detail = await auditPage
    .locator("#audit-table tbody tr")
    .filter({ hasText: "user created with role viewer" })
    .locator(".audit-detail")
    .textContent();
  check(detail.includes(NEW_USER), `the record names the created account in its details (${detail})`);
  check(refusal >= 1, "the auditor finds the viewer's refused request (110113 / 110132)");
  await shot("09-audit", auditPage);
  await auditPage.getByLabel("ユーザー", { exact: true }).fill(admin);
  await auditPage.getByRole("button", { name: "検索" }).click();
  await auditPage.locator("#audit-status").filter({ hasText: /件目/ }).waitFor();
  const users = await auditPage.locator("#audit-table tbody tr td:nth-child(7)").allTextContents();
  check(users.length > 0 && users.every((u) => u === admin), "filtering by user shows only that user's records");
});
