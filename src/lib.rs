//! Roster: Stream Chat's user API as a pure Rust core, with thin wasm-bindgen (npm) and
//! Cloudflare Worker layers behind the `js` and `worker` features.

pub mod core;

/// Both wasm artifacts run single-threaded; talc is smaller than the default dlmalloc.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// The Cloudflare Worker (feature `worker`): routing, KV persistence, the WebSocket connect.
#[cfg(feature = "worker")]
mod edge;

/// The npm package (feature `js`): wasm-bindgen exports over the core.
#[cfg(feature = "js")]
mod js;
