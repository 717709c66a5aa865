//! The batch exports: text in, text out, one call per batch ([`crate::core::engine::batch`]).
//!
//! The request body and the stored users arrive as the JSON text a server or a Worker already
//! holds; the response body and each user's new record leave as text, ready to send and store.

use super::boundary::{batch_answer, load_texts, FUNCTION, MAP, NOTHING, OBJECT};
use super::convert::{self, throw};
use super::error::type_error;
use crate::core::engine::batch::{self, Written};
use crate::core::model::settings::AppSettings;
use crate::core::{ApiError, Operation};
use js_sys::{Function, JsString, Map};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// `upsertUsers(body, stored, {caller, now})`: `POST /users` over users the caller holds.
#[wasm_bindgen(js_name = upsertUsers)]
pub fn upsert_users(body: &JsValue, stored: &JsValue, options: &JsValue) -> Result<JsValue, JsValue> {
    let op = Operation::UpdateUsers;
    let call = convert::call(options)?;
    let body = convert::string(body, "body")?;
    let mut load = loader(stored)?;
    let written = throw(op, batch::upsert(&body, &mut load, &call.caller, &AppSettings::default(), call.now))?;
    Ok(result(&written))
}

/// `partialUpdateUsers(body, stored, {caller, now})`: `PATCH /users` over users the caller holds.
#[wasm_bindgen(js_name = partialUpdateUsers)]
pub fn partial_update_users(body: &JsValue, stored: &JsValue, options: &JsValue) -> Result<JsValue, JsValue> {
    let op = Operation::UpdateUsersPartial;
    let call = convert::call(options)?;
    let body = convert::string(body, "body")?;
    let mut load = loader(stored)?;
    let written = throw(op, batch::partial_update(&body, &mut load, &call.caller, &AppSettings::default(), call.now))?;
    Ok(result(&written))
}

/// `normalizeUsernames(names)`: a JSON array of names to the JSON array of their normalized forms.
#[wasm_bindgen(js_name = normalizeUsernames)]
pub fn normalize_usernames(names: &JsValue) -> Result<JsString, JsValue> {
    let names = convert::string(names, "names")?;
    let units = throw(Operation::Request, batch::normalize_names_utf16(&names))?;
    Ok(string_of_utf16(&units))
}

#[wasm_bindgen]
extern "C" {
    /// The global `TextDecoder`.
    type TextDecoder;
    #[wasm_bindgen(constructor, catch)]
    fn new(label: &str) -> Result<TextDecoder, JsValue>;
    /// Takes a view of wasm memory (no copy).
    #[wasm_bindgen(method)]
    fn decode(this: &TextDecoder, units: &[u16]) -> JsString;
}

/// A JavaScript string of UTF-16 code units. Names in many scripts make a string of two-byte
/// characters, which JavaScript engines hold as UTF-16: decoding that is a copy, while decoding
/// the same text from UTF-8 (what returning a Rust `String` does) costs several times more.
fn string_of_utf16(units: &[u16]) -> JsString {
    match TextDecoder::new("utf-16le") {
        Ok(decoder) => decoder.decode(units),
        Err(_) => JsString::from(String::from_utf16_lossy(units)),
    }
}

/// `{body, users}`: the response text and each user's record text by id. The records are
/// slices of the body (JavaScript's `substring` shares its characters): the text crosses the
/// boundary once, not twice, and the object is built in JavaScript (`boundary.js`) from the
/// users' places in it.
fn result(written: &Written) -> JsValue {
    let body = JsString::from(written.body.as_str());
    let mut at = Utf16At::default();
    // In the body's order: the offsets are counted in one pass.
    let mut in_body: Vec<&(String, std::ops::Range<usize>)> = Vec::with_capacity(written.users.len());
    for user in &written.users {
        in_body.insert(in_body.partition_point(|(_, r)| r.start < user.1.start), user);
    }
    let mut offsets = Vec::with_capacity(3 * in_body.len());
    for (id, range) in in_body {
        // The body holds `"<id>":<record>`; ids are ASCII.
        let start = at.of(&written.body, range.start);
        offsets.extend([start - 2 - id.len() as u32, start, at.of(&written.body, range.end)]);
    }
    batch_answer(&body, &offsets)
}

/// UTF-16 offsets of increasing UTF-8 offsets in one text, counted in one pass.
#[derive(Default)]
struct Utf16At {
    byte: usize,
    unit: u32,
}

impl Utf16At {
    fn of(&mut self, text: &str, byte: usize) -> u32 {
        let bytes = text.as_bytes().get(self.byte..byte).unwrap_or_default();
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            // Eight ASCII bytes (the common case) are eight units.
            if u64::from_le_bytes(word.try_into().unwrap_or_default()) & 0x8080_8080_8080_8080 == 0 {
                self.unit += 8;
            } else {
                self.count(word);
            }
        }
        self.count(words.remainder());
        self.byte = byte;
        self.unit
    }
    fn count(&mut self, bytes: &[u8]) {
        for &b in bytes {
            // A character's first byte counts one unit; a 4-byte character is a surrogate pair.
            if b & 0xC0 != 0x80 {
                self.unit += if b >= 0xF0 { 2 } else { 1 };
            }
        }
    }
}

/// The stored users: a `Map` or a plain object of id → record, or a function of the id. A
/// record is JSON text or an object (serialized); `undefined` or `null`: not stored. A batch's
/// records are read in one call into JavaScript (`boundary.js`).
fn loader(stored: &JsValue) -> Result<impl FnMut(&[&str]) -> Texts + '_, JsValue> {
    let kind = if stored.is_undefined() || stored.is_null() {
        NOTHING
    } else if stored.is_instance_of::<Map>() {
        MAP
    } else if stored.is_instance_of::<Function>() {
        FUNCTION
    } else if stored.is_object() {
        OBJECT
    } else {
        return Err(type_error("stored must be a Map, an object or a function of the user id"));
    };
    Ok(move |ids: &[&str]| {
        if kind == NOTHING || ids.is_empty() {
            return Ok(vec![None; ids.len()]);
        }
        let texts = load_texts(stored, kind, &ids.join("\n"));
        let mut out = Vec::with_capacity(ids.len());
        for (i, id) in (0u32..).zip(ids) {
            let text = texts.get(i);
            match text.as_string() {
                Some(text) => out.push(Some(text)),
                None if text.is_null() => out.push(None),
                None => return Err(bad_record(id)),
            }
        }
        Ok(out)
    })
}

/// The stored texts of a batch's ids, or the error for a value that is not a record.
type Texts = Result<Vec<Option<String>>, ApiError>;

fn bad_record(id: &str) -> ApiError {
    ApiError::input(format!("stored user '{id}' must be JSON text, an object, null or undefined"))
}
