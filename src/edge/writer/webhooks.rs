//! Webhook delivery: events queued in the commit (`webhooks` table), POSTed by the alarm with
//! Stream's headers, in order per user, retried with backoff across restarts.

use super::*;

/// How long a webhook receiver has to answer one delivery.
pub(super) const WEBHOOK_TIMEOUT_MS: f64 = 10_000.0;

/// Delivery attempts of one webhook event before it is dropped (backoff 1 s doubling to 60 s).
pub(super) const WEBHOOK_ATTEMPTS: i64 = 10;

/// POSTs one webhook event: Stream's headers and `X-Signature` (HMAC-SHA256 of the body with
/// the app secret, hex), plus the delivery id, the attempt and a timestamp.
pub(super) fn post_webhook(
    url: &str,
    body: &str,
    delivery: &str,
    attempt: i64,
    creds: &super::super::Credentials,
    now_secs: i64,
) -> Result<js_sys::Promise, ApiError> {
    let fail = |e: JsValue| ApiError::internal(format!("webhook: {e:?}"));
    let headers = worker::web_sys::Headers::new().map_err(fail)?;
    for (k, v) in [
        ("content-type", "application/json".to_string()),
        ("x-signature", events::signature(body, &creds.secret)),
        ("x-api-key", creds.key.clone()),
        ("x-webhook-id", delivery.to_string()),
        ("x-webhook-attempt", attempt.to_string()),
        ("x-webhook-timestamp", now_secs.to_string()),
    ] {
        headers.set(k, &v).map_err(fail)?;
    }
    let init = worker::web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(&JsValue::from_str(body));
    // A receiver that does not answer within 10 s counts as a failed attempt (the alarm waits
    // for the batch, so a hung receiver must not hold replication up).
    let timeout = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("AbortSignal"))
        .and_then(|a| js_sys::Reflect::get(&a, &JsValue::from_str("timeout")).map(|t| (a, t)))
        .and_then(|(a, t)| t.unchecked_into::<js_sys::Function>().call1(&a, &JsValue::from_f64(WEBHOOK_TIMEOUT_MS)));
    if let Ok(signal) = timeout {
        init.set_signal(Some(&signal.unchecked_into()));
    }
    let request = worker::web_sys::Request::new_with_str_and_init(url, &init).map_err(fail)?;
    let fetch: js_sys::Function =
        js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("fetch")).map_err(fail)?.unchecked_into();
    Ok(fetch.call1(&JsValue::UNDEFINED, &request).map_err(fail)?.unchecked_into())
}

impl Writer {
    /// Queues an event for each webhook the app has (after the write committed, before any
    /// await: the rows commit with it).
    pub(super) fn queue_webhooks(&self, db: &Db, settings: &AppSettings, user_id: &str, event: &Value) {
        let kind = event.get("type").and_then(Value::as_str).unwrap_or_default();
        let body = json::text(event);
        for url in events::webhook_targets(settings, kind) {
            let Ok(delivery) = super::super::connect::uuid_v4() else { continue };
            let _ = store::queue_webhook(db, &delivery, user_id, &url, &body, now_ms());
        }
    }

    /// POSTs due webhook events, the oldest pending one of each user at a time (in order per
    /// user), signed with the app secret; a failure is retried with backoff up to
    /// [`WEBHOOK_ATTEMPTS`] times.
    pub(super) async fn deliver_webhooks(&self) -> Result<(), ApiError> {
        // One delivery round at a time (the alarm and the test hook may both call it): two
        // rounds would send the same attempt twice.
        if self.delivering.replace(true) {
            return Ok(());
        }
        let result = self.deliver_round().await;
        self.delivering.set(false);
        result
    }

    pub(super) async fn deliver_round(&self) -> Result<(), ApiError> {
        let db = self.db();
        let now = now_ms();
        let due = store::due_webhooks(&db, now)?;
        if due.is_empty() {
            return Ok(());
        }
        let creds = super::super::Credentials::from_env(&self.env)?;
        let mut posts = Vec::with_capacity(due.len());
        for d in &due {
            posts.push(post_webhook(&d.url, &d.body, &d.delivery_id, d.attempts + 1, &creds, now / 1000));
        }
        let answers = kv::settle_values(posts).await?;
        let db = self.db();
        let done = now_ms();
        for (d, answer) in due.iter().zip(answers) {
            // Delivered: the receiver answered 2xx.
            let ok =
                answer.is_some_and(|r| js_sys::Reflect::get(&r, &JsValue::from_str("ok")).ok() == Some(JsValue::TRUE));
            if ok || d.attempts + 1 >= WEBHOOK_ATTEMPTS {
                store::finish_webhook(&db, d.id, !ok)?;
            } else {
                store::retry_webhook(&db, d.id, done + backoff_ms(d.attempts))?;
            }
        }
        Ok(())
    }
}
