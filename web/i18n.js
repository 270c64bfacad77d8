// The page's words: every UI string comes from a catalogue (web/locales/<code>.js), English built in and
// the others loaded when chosen. A key a catalogue lacks falls back to English (tests/unit/
// test_translations.py reports it); numbers and dates are formatted for the locale in use.
import en from "./locales/en.js";

// The catalogues, named in their own language for the switch.
export const LOCALES = { en: "English", fr: "Français", es: "Español", de: "Deutsch", zh: "中文（简体）", ja: "日本語" };

let locale = "en";
let words = en;

export function currentLocale() { return locale; }

// "fr-CA" -> "fr", "zh-Hans-CN" -> "zh"; null for a language without a catalogue.
export function matchLocale(tag) {
  const code = String(tag ?? "").toLowerCase().split(/[-_]/)[0];
  return Object.hasOwn(LOCALES, code) ? code : null;
}

export function localeFromBrowser() {
  for (const tag of navigator.languages ?? [navigator.language]) {
    const code = matchLocale(tag);
    if (code) return code;
  }
  return "en";
}

// An unknown code falls back to English; <html lang> follows the locale.
export async function setLocale(code) {
  const wanted = matchLocale(code) ?? "en";
  try {
    words = wanted === "en" ? en : (await import(`./locales/${wanted}.js`)).default;
    locale = wanted;
  } catch {
    words = en;
    locale = "en";
  }
  document.documentElement.lang = locale;
  return locale;
}

// The text for `key` with its {name} placeholders filled in.
export function t(key, params = {}) {
  const text = words[key] ?? en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

// A text that depends on a count: `key.one` or `key.other`, by the locale's plural rules.
export function tn(key, count, params = {}) {
  const form = new Intl.PluralRules(locale).select(count) === "one" ? "one" : "other";
  return t(`${key}.${form}`, { count: formatFixed(count, 0), ...params });
}

export function formatNumber(value, options = {}) {
  return new Intl.NumberFormat(locale, options).format(value);
}

// A number with exactly `digits` decimals and no grouping (what toFixed wrote, in the locale's digits).
export function formatFixed(value, digits) {
  return formatNumber(value, { minimumFractionDigits: digits, maximumFractionDigits: digits, useGrouping: false });
}

export function formatDate(date, options = { dateStyle: "medium", timeStyle: "short" }) {
  return new Intl.DateTimeFormat(locale, options).format(date);
}

// Fill every element under `root` marked data-i18n="key" (its text) or
// data-i18n-attr="placeholder:key;title:key" (its attributes).
export function translatePage(root = document) {
  for (const element of root.querySelectorAll("[data-i18n]")) element.textContent = t(element.dataset.i18n);
  for (const element of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of element.dataset.i18nAttr.split(";")) {
      const [attribute, key] = pair.split(":").map((part) => part.trim());
      if (attribute && key) element.setAttribute(attribute, t(key));
    }
  }
}

// An error event from Python (its `code`, pagellm/errors.py): in English Python's own message; in
// another locale the translated line for the code, then Python's message for the details.
export function errorText(event) {
  if (locale === "en" || !event?.code) return event?.message ?? "";
  const line = words[`error.${event.code}`] ?? words["error.error"] ?? "";
  return [line, event.message].filter(Boolean).join(" ");
}
