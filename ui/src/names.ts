// Display of DICOM person names (PS3.5 6.2): "^" separates components; groups are
// Alphabetic (romaji), Ideographic (kanji) and Phonetic (kana).
import type { PersonName } from "./api";
import type { Lang } from "./i18n";

function components(group: string | null): string {
  if (!group) return "";
  // family^given^middle^prefix^suffix → "family given middle prefix suffix"
  return group
    .split("^")
    .map((part) => part.trim())
    .filter(Boolean)
    .join(" ");
}

export interface NameParts {
  /** What to show large: kanji when there is one, else romaji, else kana. */
  primary: string;
  /** Reading(s) to show small beneath it (kana, and romaji in English). */
  secondary: string;
}

export function nameParts(name: PersonName | null, lang: Lang): NameParts {
  if (!name) return { primary: "", secondary: "" };
  const alpha = components(name.Alphabetic);
  const ideo = components(name.Ideographic);
  const kana = components(name.Phonetic);
  const primary = ideo || alpha || kana;
  const readings: string[] = [];
  if (kana && kana !== primary) readings.push(kana);
  if (lang === "en" && alpha && alpha !== primary) readings.push(alpha);
  return { primary, secondary: readings.join(" / ") };
}

/** One string for sorting and announcing: primary then readings. */
export function nameText(name: PersonName | null, lang: Lang): string {
  const { primary, secondary } = nameParts(name, lang);
  return secondary ? `${primary} (${secondary})` : primary;
}

/** DICOM DA (YYYYMMDD) as YYYY-MM-DD; anything else unchanged. */
export function formatDate(value: string | null): string {
  if (!value) return "";
  return /^\d{8}$/.test(value) ? `${value.slice(0, 4)}-${value.slice(4, 6)}-${value.slice(6)}` : value;
}
