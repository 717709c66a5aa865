// The benchmark's inputs, deterministic (a seeded PRNG): stored users as KV holds them, the
// request bodies of a 100-user partial update and upsert, and 10,000 display names in many
// scripts. Shared by the core bench (bench/core.mjs) and the Worker bench (bench/worker.mjs).

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
