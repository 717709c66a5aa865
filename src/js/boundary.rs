//! The package's JavaScript side of the boundary (`src/js/package/boundary.js`, which the glue
//! imports): what crosses once per call in JavaScript rather than once per user from wasm.

use wasm_bindgen::prelude::*;

/// How the stored users answer an id, for [`load_texts`] (`boundary.js` reads the same numbers).
pub const NOTHING: u8 = 0;
pub const MAP: u8 = 1;
pub const FUNCTION: u8 = 2;
pub const OBJECT: u8 = 3;

#[wasm_bindgen(raw_module = "./boundary.js")]
extern "C" {
    /// `{body, users}` from the users' UTF-16 offsets in `body` (three each).
    #[wasm_bindgen(js_name = batchAnswer)]
    pub fn batch_answer(body: &js_sys::JsString, at: &[u32]) -> JsValue;
    /// The stored texts of `ids` (joined by newlines), in their order: each a string, `null`
    /// for none, `false` for a value that is not a record (reading stopped there).
    #[wasm_bindgen(js_name = loadTexts)]
    pub fn load_texts(stored: &JsValue, kind: u8, ids: &str) -> js_sys::Array;
    /// The users of `users` as `"<id>":<user>` (keyed by `id`, or by "" without a string id),
    /// in runs joined by commas; `None`: a user cannot be serialized.
    #[wasm_bindgen(js_name = upsertMembers)]
    pub fn upsert_members(users: &js_sys::Array) -> Option<js_sys::Array>;
}
