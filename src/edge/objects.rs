//! Calls into the app's Durable Objects: the Writer (one, named `app`) and its connection hubs
//! (`hub-0` … `hub-{H-1}`, `core::engine::hubs`). A request goes as a plain runtime `Request` through
//! the stub's `fetch` (workers-rs' `RequestInit` would link its serializers).

use super::command::Command;
use crate::core::wire::error::ApiError;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use worker::{web_sys, Env, Response};

#[wasm_bindgen]
extern "C" {
    /// What a request is forwarded to: an object's stub, or the `ASSETS` binding.
    pub(crate) type Fetchable;
    #[wasm_bindgen(method, catch)]
    pub(crate) fn fetch(this: &Fetchable, req: &web_sys::Request) -> Result<js_sys::Promise, JsValue>;
}

/// The Writer's binding and name.
pub(crate) const WRITER: (&str, &str) = ("WRITER", "app");

/// The binding of the connection hubs.
pub(crate) const HUB: &str = "HUB";

/// The app's hub count: `ROSTER_HUBS` as `core::engine::hubs::count` reads it.
pub(crate) fn hub_count(env: &Env) -> u32 {
    crate::core::engine::hubs::count(env.var("ROSTER_HUBS").ok().map(|v| v.to_string()).as_deref())
}

/// Forwards a request to an object as it is; its answer is the response.
pub(crate) async fn forward(env: &Env, binding: &str, name: &str, req: &web_sys::Request) -> worker::Result<Response> {
    let stub: Fetchable = env.durable_object(binding)?.get_by_name(name)?.into_rpc();
    let answer = JsFuture::from(stub.fetch(req)?).await?;
    Ok(Response::from(answer.unchecked_into::<web_sys::Response>()))
}

/// Posts `body` to `url` on an object: its status and body. Any failure to reach it (or to read
/// its answer) is an internal error naming the object.
pub(crate) async fn post(
    env: &Env,
    binding: &str,
    name: &str,
    url: &str,
    body: &[u8],
) -> Result<(u16, Vec<u8>), ApiError> {
    let unavailable = |e: JsValue| ApiError::internal(format!("{name} unavailable: {e:?}"));
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&js_sys::Uint8Array::from(body));
    let req = web_sys::Request::new_with_str_and_init(url, &init).map_err(unavailable)?;
    let mut response =
        forward(env, binding, name, &req).await.map_err(|e| ApiError::internal(format!("{name} unavailable: {e}")))?;
    let status = response.status_code();
    let bytes = response.bytes().await.map_err(|e| ApiError::internal(format!("{name} unavailable: {e}")))?;
    Ok((status, bytes))
}

/// Sends a command to the Writer; its answer is the response.
pub(crate) async fn send(env: &Env, cmd: &Command, body: &[u8]) -> Result<Response, ApiError> {
    let unavailable = |e: JsValue| ApiError::internal(format!("writer unavailable: {e:?}"));
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    let bytes = js_sys::Uint8Array::from(cmd.encode(body).as_slice());
    init.set_body(&bytes);
    let req = web_sys::Request::new_with_str_and_init("https://writer/command", &init).map_err(unavailable)?;
    forward(env, WRITER.0, WRITER.1, &req).await.map_err(|e| ApiError::internal(format!("writer unavailable: {e}")))
}
