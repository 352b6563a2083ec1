// Japanese and English. The language follows the browser's until the user picks one (kept in
// localStorage). Keys not translated fall back to English.

export type Lang = "ja" | "en";

const en = {
  skip: "Skip to content",
  language: "Language",
  logout: "Log out",
  "login.title": "Log in to raddx",
  "login.user": "User name",
  "login.password": "Password",
  "login.otp": "2FA code (if enrolled)",
  "login.submit": "Log in",
  "login.failed": "Login failed: {detail}",
  "login.mfa": "This account must enrol two-factor authentication before using the browser.",
  "login.enrolTitle": "Set up two-factor authentication",
  "nav.studies": "Studies",
  "studies.title": "Study browser",
  "studies.search": "Search studies",
  "f.PatientID": "Patient ID",
  "f.PatientName": "Patient name (kanji, kana or romaji)",
  "f.AccessionNumber": "Accession number",
  "f.Modality": "Modality",
  "f.any": "Any",
  "f.from": "Study date from",
  "f.to": "Study date to",
  "f.pageSize": "Rows per page",
  "f.submit": "Search",
  "f.clear": "Clear",
  "c.PatientName": "Patient name",
  "c.PatientID": "Patient ID",
  "c.PatientBirthDate": "Birth date",
  "c.PatientSex": "Sex",
  "c.StudyDate": "Study date",
  "c.ModalitiesInStudy": "Modality",
  "c.AccessionNumber": "Accession",
  "c.StudyDescription": "Description",
  "c.NumberOfStudyRelatedInstances": "Images",
  "r.caption": "Studies (sorting applies to the page shown)",
  "r.none": "No study matches.",
  "r.loading": "Searching…",
  "r.range": "Studies {from}–{to}",
  "r.prev": "Previous page",
  "r.next": "Next page",
  "r.error": "Search failed: {detail}",
  "r.selected": "Selected: {name}, {date}, {desc}",
  "r.help": "↑/↓ move between studies, Home/End first/last, Space selects, Enter opens the study.",
  "study.back": "Back to the study list",
  "study.loading": "Loading the study…",
  "study.failed": "Cannot show the study: {detail}",
  "study.series": "Series",
  "study.patient": "Patient",
  "study.birth": "Born {date}, sex {sex}",
  "study.facts": "Study",
  "s.thumbnail": "Image",
  "s.SeriesNumber": "No.",
  "s.Modality": "Modality",
  "s.SeriesDescription": "Description",
  "s.BodyPartExamined": "Body part",
  "s.images": "Images",
  "s.noImage": "no image",
  "s.thumbAlt": "Series {number} {modality}",
  "s.open": "View",
  "s.openLabel": "View series {number} {modality}",
  "v.back": "Back to the study",
  "v.failedImages": "{count} image(s) could not be loaded (instance number {numbers}); the others can be viewed.",
  "v.loading": "Loading the series…",
  "v.failed": "Cannot load the series (HTTP {status}).",
  "v.image": "Image",
  "v.presets": "Window presets",
  "v.help": "Scroll: wheel or ↑/↓. Window/level: left drag. Pan: middle drag. Zoom: right drag.",
  "v.status": "Image {index}/{count}  W {ww} L {wl}  (loaded {loaded}/{count})",
  "v.lung": "Lung",
  "v.mediastinum": "Mediastinum",
  "v.bone": "Bone",
  "v.brain": "Brain",
  "sort.asc": "sorted ascending",
  "sort.desc": "sorted descending",
  "denied": "Your role does not allow browsing studies.",
};

type Key = keyof typeof en;

const ja: Partial<Record<Key, string>> = {
  skip: "本文へ移動",
  language: "言語",
  logout: "ログアウト",
  "login.title": "raddx にログイン",
  "login.user": "ユーザー名",
  "login.password": "パスワード",
  "login.otp": "二要素認証コード（登録済みの場合）",
  "login.submit": "ログイン",
  "login.failed": "ログインできません: {detail}",
  "login.mfa": "このアカウントはブラウザを使う前に二要素認証の登録が必要です。",
  "login.enrolTitle": "二要素認証の設定",
  "nav.studies": "検査一覧",
  "studies.title": "検査一覧",
  "studies.search": "検査を検索",
  "f.PatientID": "患者ID",
  "f.PatientName": "患者氏名（漢字・かな・ローマ字）",
  "f.AccessionNumber": "受付番号",
  "f.Modality": "モダリティ",
  "f.any": "すべて",
  "f.from": "検査日（から）",
  "f.to": "検査日（まで）",
  "f.pageSize": "1ページの件数",
  "f.submit": "検索",
  "f.clear": "クリア",
  "c.PatientName": "患者氏名",
  "c.PatientID": "患者ID",
  "c.PatientBirthDate": "生年月日",
  "c.PatientSex": "性別",
  "c.StudyDate": "検査日",
  "c.ModalitiesInStudy": "モダリティ",
  "c.AccessionNumber": "受付番号",
  "c.StudyDescription": "検査内容",
  "c.NumberOfStudyRelatedInstances": "画像数",
  "r.caption": "検査（並べ替えは表示中のページ内）",
  "r.none": "該当する検査はありません。",
  "r.loading": "検索中…",
  "r.range": "{from}〜{to} 件目",
  "r.prev": "前のページ",
  "r.next": "次のページ",
  "r.error": "検索できません: {detail}",
  "r.selected": "選択中: {name}、{date}、{desc}",
  "r.help": "↑/↓ で検査を移動、Home/End で先頭/末尾、スペースで選択、Enter で検査を開きます。",
  "study.back": "検査一覧に戻る",
  "study.loading": "検査を読み込み中…",
  "study.failed": "検査を表示できません: {detail}",
  "study.series": "シリーズ",
  "study.patient": "患者",
  "study.birth": "生年月日 {date}、性別 {sex}",
  "study.facts": "検査",
  "s.thumbnail": "画像",
  "s.SeriesNumber": "番号",
  "s.Modality": "モダリティ",
  "s.SeriesDescription": "シリーズ内容",
  "s.BodyPartExamined": "部位",
  "s.images": "画像数",
  "s.noImage": "画像なし",
  "s.thumbAlt": "シリーズ {number} {modality}",
  "s.open": "表示",
  "s.openLabel": "シリーズ {number} {modality} を表示",
  "v.back": "検査に戻る",
  "v.failedImages": "{count} 枚の画像を読み込めません（インスタンス番号 {numbers}）。他の画像は表示できます。",
  "v.loading": "シリーズを読み込み中…",
  "v.failed": "シリーズを読み込めません（HTTP {status}）。",
  "v.image": "画像",
  "v.presets": "ウィンドウプリセット",
  "v.help": "スクロール: ホイールまたは ↑/↓。ウィンドウ/レベル: 左ドラッグ。移動: 中ドラッグ。拡大: 右ドラッグ。",
  "v.status": "画像 {index}/{count}  W {ww} L {wl}（読込 {loaded}/{count}）",
  "v.lung": "肺野",
  "v.mediastinum": "縦隔",
  "v.bone": "骨",
  "v.brain": "脳",
  "sort.asc": "昇順",
  "sort.desc": "降順",
  "denied": "このロールでは検査一覧を閲覧できません。",
};

const STORAGE_KEY = "raddx.lang";

function initialLang(): Lang {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (saved === "ja" || saved === "en") return saved;
  const preferred = navigator.languages?.length ? navigator.languages : [navigator.language];
  for (const tag of preferred) {
    if (tag.toLowerCase().startsWith("ja")) return "ja";
    if (tag.toLowerCase().startsWith("en")) return "en";
  }
  return "en";
}

let current: Lang = initialLang();

export function lang(): Lang {
  return current;
}

export function setLang(value: Lang): void {
  current = value;
  localStorage.setItem(STORAGE_KEY, value);
  document.documentElement.lang = value;
}

type Params = Record<string, string | number>;

function fill(text: string, params: Params): string {
  return text.replace(/\{(\w+)\}/g, (_, name: string) => String(params[name] ?? ""));
}

export function t(key: Key, params: Params = {}): string {
  return fill((current === "ja" ? ja[key] : undefined) ?? en[key], params);
}

/**
 * A translator for one area of the application (worklist, reporting, admin…), so each area
 * keeps its own strings next to its code instead of every area editing one shared table:
 *
 *     const tr = messages({ "wl.title": "Worklist" }, { "wl.title": "ワークリスト" });
 *     tr("wl.title");
 *
 * English is complete (the key set); Japanese may leave keys out (they fall back to English).
 */
export function messages<K extends string>(
  english: Record<K, string>,
  japanese: Partial<Record<K, string>>,
): (key: K, params?: Params) => string {
  return (key, params = {}) =>
    fill((current === "ja" ? japanese[key] : undefined) ?? english[key], params);
}

/** Fill every element carrying data-i18n under ``root`` with its text. */
export function translate(root: ParentNode = document): void {
  for (const el of root.querySelectorAll<HTMLElement>("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n as Key);
  }
}

export type { Key };
