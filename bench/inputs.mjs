// The benchmark's inputs, deterministic (a seeded PRNG): stored users as KV holds them, the
// request bodies of a 100-user partial update and upsert, and 10,000 display names in many
// scripts. Shared by the core bench (bench/core.mjs) and the Worker bench (bench/worker.mjs).
// `SHAPES` and `shapeInputs` (the end of this file) give the core bench the same three
// workloads on several shapes of user (issue 23); `coreInputs` is the "mixed" shape.

/** mulberry32: a small seeded PRNG, so every run uses the same inputs. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = [
  "John", "Ann", "José", "Ünal", "Δημήτρης", "Иван", "李", "さくら", "محمد", "अमित", "Zoë", "Åsa",
  "ΟΔΥΣΣΕΥΣ", "İlker", "Łukasz", "Nguyễn", "Chloé", "O'Brien", "Jean-Luc", "Søren", "Ángel", "Ωmega",
];
const LAST = [
  "Doe", "Smith", "García", "Çelik", "Παπαδόπουλος", "Петров", "小龙", "桜", "علي", "शर्मा", "Müller",
  "Ødegård", "STRAßE", "Kowalski", "Văn Anh", "DUPONT", "van der Berg", "Nuñez", "Ærø", "ΣΩΚΡΑΤΗΣ",
];
const SEPARATORS = [" ", " ", ".", "_", "-", "  ", " · ", "\t"];
const DECORATIONS = ["", "", "", " 😀", "!!", " (admin)", " #1", "™", " ❤️", "…"];

/** `n` display names: first and last names in many scripts, separators, digits, emoji. */
export function names(n, seed = 1) {
  const r = rng(seed);
  const pick = (list) => list[Math.floor(r() * list.length)];
  return Array.from({ length: n }, (_, i) => {
    const digits = r() < 0.4 ? String(Math.floor(r() * 1000)) : "";
    return `${pick(FIRST)}${pick(SEPARATORS)}${pick(LAST)}${digits}${pick(DECORATIONS)}${i % 97 === 0 ? " Ⅻ ½" : ""}`;
  });
}

export const T_STORED = Date.UTC(2025, 0, 15, 8, 30, 0, 123);
export const T_NOW = Date.UTC(2026, 10, 27, 12, 0, 0, 456);
const iso = (ms) => `${new Date(ms).toISOString().slice(0, 23)}000Z`;

/** A user as a writer sends it (what `POST /users` carries). */
export function inputUser(i, prefix = "user", variant = 0) {
  return {
    id: `${prefix}-${i}`,
    name: names(1, i + 1)[0],
    image: `https://cdn.example.com/avatars/${i}.png`,
    language: "en",
    teams: ["red", "blue"],
    privacy_settings: { typing_indicators: { enabled: true } },
    favorite_color: variant ? "blue" : "green",
    score: i * 1.5 + variant,
    address: { city: "Amsterdam", street: "Keizersgracht", number: i },
    tags: ["chat", "beta", `cohort-${i % 7}`],
    ...(variant ? { nickname: `u${i}`, level: variant } : { signup_source: "ios" }),
  };
}

/** A stored user as KV holds it: the input plus the server-computed fields. */
export function storedUser(i, prefix = "user") {
  return {
    ...inputUser(i, prefix),
    role: "user",
    created_at: iso(T_STORED),
    updated_at: iso(T_STORED + i),
    banned: false,
    online: false,
  };
}

/** One `PATCH /users` entry: 5 set paths (3 nested, 2 creating parents), 2 unset. */
export function partialEntry(i, prefix = "user") {
  return {
    id: `${prefix}-${i}`,
    set: {
      name: `Renamed ${i}`,
      "address.city": "Oslo",
      // Short decimals: serde_json (without float_roundtrip) misreads some 17-digit ones (BENCHMARKS.md).
      "address.geo.lat": Number((59.91 + i / 1000).toFixed(3)),
      "prefs.theme": i % 2 ? "dark" : "light",
      score: i * 2,
    },
    unset: ["tags", "address.number"],
  };
}

/** The three core workloads, as strings the way a Worker receives them. */
export function coreInputs({ batch = 100, nameCount = 10_000 } = {}) {
  const ids = Array.from({ length: batch }, (_, i) => `user-${i}`);
  // KV values of the stored users (a bulk get returns them as strings, keyed by id).
  const stored = new Map(ids.map((id, i) => [id, JSON.stringify(storedUser(i))]));
  const partialBody = JSON.stringify({ users: ids.map((_, i) => partialEntry(i)) });
  const upsertBody = JSON.stringify({ users: Object.fromEntries(ids.map((id, i) => [id, inputUser(i, "user", 1)])) });
  const namesBody = JSON.stringify(names(nameCount, 42));
  return { stored, partialBody, upsertBody, namesBody };
}

// ------------------------------------------------------------------------------ shapes (issue 23)

const pickFrom = (r) => (list) => list[Math.floor(r() * list.length)];
const WORDS = [
  "alpha", "river", "stone", "quiet", "maple", "orbit", "lumen", "cedar", "delta", "ember", "frost", "grove",
  "harbor", "indigo", "juniper", "kettle", "lantern", "meadow", "nimbus", "opal", "pepper", "quartz", "raven", "saffron",
];
const sentence = (r, words) => Array.from({ length: words }, () => pickFrom(r)(WORDS)).join(" ");
const ASCII_FIRST = ["John", "Mary", "Alex", "Sam", "Chris", "Pat", "Jordan", "Taylor", "Morgan", "Casey", "Robin", "Lee"];
const ASCII_LAST = ["Smith", "Jones", "Brown", "Miller", "Davis", "Wilson", "Moore", "Clark", "Hall", "Young", "King", "Wright"];
const ASCII_SEPARATORS = [" ", " ", ".", "_", "-", ""];
const LATIN_FIRST = ["José", "Zoë", "Åsa", "Søren", "Chloé", "Ángel", "Łukasz", "İlker", "Ünal", "François", "Björn", "Inês"];
const LATIN_LAST = ["García", "Müller", "Ødegård", "Çelik", "Nuñez", "Kowalski", "Ærø", "Straße", "Dvořák", "Ólafsson", "Brontë", "Lévêque"];
const SCRIPT_FIRST = ["Δημήτρης", "Иван", "李", "さくら", "محمد", "अमित", "ΟΔΥΣΣΕΥΣ", "Наталья", "王", "김민준", "สมชาย", "Αλέξανδρος", "יוסי", "Σωκράτης"];
const SCRIPT_LAST = ["Παπαδόπουλος", "Петров", "小龙", "桜", "علي", "शर्मा", "ΣΩΚΡΑΤΗΣ", "Иванова", "明", "이", "ใจดี", "כהן", "ナカムラ", "Ψαρράς"];
const SCRIPT_WORDS = ["東京", "Москва", "Αθήνα", "القاهرة", "मुंबई", "서울", "กรุงเทพ", "ירושלים", "北京", "大阪", "Київ", "Θεσσαλονίκη"];
const EMOJI = ["", "", " 😀", " ❤️", " 🚀", " 🎉", "™", "…"];

/** A display name of one kind: ascii, latin (accented Latin), scripts (non-Latin), mixed, long. */
function displayName(kind, r, i) {
  const pick = pickFrom(r);
  const digits = r() < 0.4 ? String(Math.floor(r() * 1000)) : "";
  switch (kind) {
    case "ascii":
      return `${pick(ASCII_FIRST)}${pick(ASCII_SEPARATORS)}${pick(ASCII_LAST)}${digits}`;
    case "latin":
      return `${pick(LATIN_FIRST)}${pick(SEPARATORS)}${pick(LATIN_LAST)}${digits}`;
    case "scripts":
      return `${pick(SCRIPT_FIRST)}${pick(SEPARATORS)}${pick(SCRIPT_LAST)}${digits}${pick(EMOJI)}`;
    case "long":
      return `${pick(FIRST)} ${pick(LATIN_FIRST)}${pick(SEPARATORS)}${pick(LAST)}-${pick(LATIN_LAST)} ${pick(SCRIPT_LAST)}${digits}${pick(DECORATIONS)}${pick(EMOJI)}`;
    default:
      return names(1, i + 1)[0];
  }
}

/** The server-computed fields of a stored user, as KV holds it (`storedUser`'s). */
const serverFields = (i) => ({ role: "user", created_at: iso(T_STORED), updated_at: iso(T_STORED + i), banned: false, online: false });

const dec = (x) => Number(x.toFixed(3)); // short decimals: see partialEntry

/**
 * The shapes the core bench runs each workload on. Each has `input(i, variant)` (a user as a
 * writer sends it; variant 1 is the upsert that replaces variant 0's custom data), `partial(i)`
 * (one PATCH entry) and `names` (the kind of display names, for the users and the 10,000 names
 * to normalize).
 */
export const SHAPES = [
  {
    key: "flat",
    label: "small flat users (5 fields, ASCII names)",
    partialLabel: "4 set, 1 unset",
    names: "ascii",
    input: (i, v, r) => ({
      id: `user-${i}`,
      name: displayName("ascii", r, i),
      image: `https://cdn.example.com/a/${i}.png`,
      language: v ? "nl" : "en",
      score: i + v,
    }),
    partial: (i, r) => ({
      id: `user-${i}`,
      set: { name: displayName("ascii", r, i), score: i * 2, language: "de", "prefs.theme": i % 2 ? "dark" : "light" },
      unset: ["image"],
    }),
  },
  {
    key: "nested",
    label: "nested custom objects (4 levels, mixed-script names)",
    partialLabel: "5 set, 2 unset, 2–4 levels deep",
    names: "mixed",
    input: (i, v, r) => ({
      id: `user-${i}`,
      name: displayName("mixed", r, i),
      image: `https://cdn.example.com/avatars/${i}.png`,
      language: "en",
      teams: ["red", "blue"],
      address: { city: v ? "Utrecht" : "Amsterdam", street: "Keizersgracht", number: i, geo: { lat: dec(52.37 + i / 1000), lng: dec(4.89 + v / 100) } },
      profile: {
        bio: sentence(r, 8),
        links: { github: `gh-${i}`, site: `https://example.com/${i}` },
        settings: { notifications: { email: true, push: !v, digest: { daily: v === 0, hour: 8 + (i % 10) } }, locale: { tz: "Europe/Amsterdam", week: 1 } },
      },
      plan: { tier: v ? "pro" : "free", since: { year: 2020 + (i % 5), month: 1 + (i % 12) } },
    }),
    partial: (i) => ({
      id: `user-${i}`,
      set: {
        "address.city": "Oslo",
        "address.geo.lat": dec(59.91 + i / 1000),
        "profile.settings.notifications.digest.daily": i % 2 === 0,
        "profile.links.github": `gh-renamed-${i}`,
        "prefs.ui.theme": i % 2 ? "dark" : "light",
      },
      unset: ["profile.bio", "address.number"],
    }),
  },
  {
    key: "arrays",
    label: "arrays in custom data (accented Latin names)",
    partialLabel: "4 set (3 arrays), 1 unset",
    names: "latin",
    input: (i, v, r) => ({
      id: `user-${i}`,
      name: displayName("latin", r, i),
      language: "fr",
      teams: ["red", "blue", `team-${i % 5}`],
      tags: Array.from({ length: 8 }, (_, k) => `${pickFrom(r)(WORDS)}-${k + v}`),
      scores: Array.from({ length: 20 }, (_, k) => (i * 7 + k * 13 + v) % 1000),
      history: Array.from({ length: 5 }, (_, k) => ({ at: iso(T_STORED - k * 86_400_000), action: pickFrom(r)(WORDS), n: k + v })),
      badges: [["gold", 3], ["silver", 1 + v], ["bronze", i % 4]],
    }),
    partial: (i) => ({
      id: `user-${i}`,
      set: {
        tags: ["renamed", `t-${i}`, "beta"],
        scores: Array.from({ length: 10 }, (_, k) => (i + k) % 100),
        "prefs.langs": ["fr", "en"],
        "stats.visits": i * 3,
      },
      unset: ["badges"],
    }),
  },
  {
    key: "nonascii",
    label: "non-ASCII names and text (Greek, Cyrillic, CJK, Arabic, …, emoji)",
    partialLabel: "4 set, 1 unset",
    names: "scripts",
    input: (i, v, r) => ({
      id: `user-${i}`,
      name: displayName("scripts", r, i),
      image: `https://cdn.example.com/avatars/${i}.png`,
      language: "ja",
      city: pickFrom(r)(SCRIPT_WORDS),
      bio: `${pickFrom(r)(SCRIPT_FIRST)} ${pickFrom(r)(SCRIPT_WORDS)} ${pickFrom(r)(SCRIPT_LAST)} ${pickFrom(r)(EMOJI)} ${pickFrom(r)(SCRIPT_WORDS)}`,
      tags: [pickFrom(r)(SCRIPT_WORDS), pickFrom(r)(SCRIPT_WORDS), `v${v}`],
      address: { city: pickFrom(r)(SCRIPT_WORDS), street: `${pickFrom(r)(SCRIPT_LAST)} ${i}` },
    }),
    partial: (i, r) => ({
      id: `user-${i}`,
      set: { name: displayName("scripts", r, i), bio: `${pickFrom(r)(SCRIPT_WORDS)} ✨ ${pickFrom(r)(SCRIPT_LAST)}`, "address.city": "Zürich", "prefs.theme": "夜" },
      unset: ["tags"],
    }),
  },
  {
    key: "big",
    label: "custom data near 5 KiB (about 4.5 KiB of it; long names)",
    partialLabel: "4 set, 2 unset",
    names: "long",
    input: (i, v, r) => ({
      id: `user-${i}`,
      name: displayName("long", r, i),
      image: `https://cdn.example.com/avatars/${i}.png`,
      language: "en",
      teams: ["red", "blue"],
      bio: sentence(r, 110),
      notes: Array.from({ length: 20 }, () => sentence(r, 13)),
      history: Array.from({ length: 24 }, (_, k) => ({ at: iso(T_STORED - k * 3_600_000), action: pickFrom(r)(WORDS), n: k * 3 + v })),
      settings: Object.fromEntries(Array.from({ length: 20 }, (_, k) => [`${WORDS[k]}_${k}`, k % 3 === 0 ? k % 2 === 0 : k * 11 + v])),
      scores: Array.from({ length: 40 }, (_, k) => (i * 31 + k * 17 + v) % 10_000),
      address: { city: "Amsterdam", street: "Keizersgracht", number: i },
    }),
    partial: (i) => ({
      id: `user-${i}`,
      set: { name: `Renamed ${i}`, "address.city": "Oslo", "prefs.theme": i % 2 ? "dark" : "light", "stats.visits": i * 3 },
      unset: ["scores", "address.number"],
    }),
  },
  {
    key: "mixed",
    label: "the previous inputs (about 480 B, nested address, mixed-script names)",
    partialLabel: "5 set, 2 unset",
    names: "mixed",
  },
  {
    key: "escaped",
    label: "the non-ASCII users, written ASCII-only (\\u escapes, emoji as surrogate pairs: Python's json.dumps default)",
    partialLabel: "4 set, 1 unset",
    names: "scripts",
    like: "nonascii",
  },
];

/** JSON text written ASCII-only, as Python's `json.dumps` writes it by default: every
 * character beyond ASCII as a `\u` escape, those beyond the BMP as a surrogate pair. */
const asciiOnly = (text) => text.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

/** A seeded PRNG per (shape, user, purpose), so each input is the same whatever else is built. */
const seeded = (shapeIndex, i, purpose) => rng((shapeIndex + 1) * 1_000_003 + i * 31 + purpose);

/**
 * The three workloads of one shape, as strings the way a Worker receives them, plus what the
 * in-memory stores are seeded with:
 * - `stored`: id → the stored user's JSON text (a KV bulk get), for the batch and per-object rows;
 * - `seed`: the same users as a writer sent them, upserted at T_STORED into `UserStore` and into
 *   the plain-JavaScript store, which then hold them as objects (the in-memory rows);
 * - `partialBody`, `upsertBody` (variant 1 of every user: new custom data), `namesBody`.
 */
export function shapeInputs(key, { batch = 100, nameCount = 10_000 } = {}) {
  const s = SHAPES.findIndex((x) => x.key === key);
  if (s < 0) throw new Error(`unknown shape ${key}`);
  const shape = SHAPES[s];
  if (shape.like) {
    // The same users as another shape, each text written ASCII-only (the seeds stay objects).
    const like = shapeInputs(shape.like, { batch, nameCount });
    const stored = new Map([...like.stored].map(([id, text]) => [id, asciiOnly(text)]));
    const [partialBody, upsertBody, namesBody] = [like.partialBody, like.upsertBody, like.namesBody].map(asciiOnly);
    return { stored, seed: like.seed, partialBody, upsertBody, namesBody };
  }
  if (shape.key === "mixed") {
    return { ...coreInputs({ batch, nameCount }), seed: Array.from({ length: batch }, (_, i) => inputUser(i)) };
  }
  const ids = Array.from({ length: batch }, (_, i) => `user-${i}`);
  const seed = ids.map((_, i) => shape.input(i, 0, seeded(s, i, 0)));
  const stored = new Map(ids.map((id, i) => [id, JSON.stringify({ ...seed[i], ...serverFields(i) })]));
  const partialBody = JSON.stringify({ users: ids.map((_, i) => shape.partial(i, seeded(s, i, 2))) });
  const upsertBody = JSON.stringify({ users: Object.fromEntries(ids.map((id, i) => [id, shape.input(i, 1, seeded(s, i, 1))])) });
  const r = rng(42 + s);
  const namesBody = JSON.stringify(Array.from({ length: nameCount }, (_, i) => displayName(shape.names, r, i)));
  return { stored, seed, partialBody, upsertBody, namesBody };
}
