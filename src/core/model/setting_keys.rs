//! Which `PATCH /app` keys are settings. Stream ignores a key that names no setting (the
//! request succeeds and nothing is stored), so a misspelled `enforce_unique_username` must not
//! be kept and shown by `GET /app` forever; Roster does the same.
//!
//! The list: every top-level setting that Stream's SDKs send or read (stream-chat 9.53's
//! `AppSettings`, @stream-io/node-sdk 0.7.64's `UpdateAppRequest`, PyPI getstream 7.0.0's
//! `update_app`, stream-chat-go v8's `AppSettings`), plus Roster's own `roster_*` settings.

/// Stream's app settings, sorted.
const STREAM: &[&str] = &[
    "activity_metrics_config",
    "allowed_flag_reasons",
    "apn_config",
    "async_moderation_config",
    "async_url_enrich_enabled",
    "auto_translation_enabled",
    "before_message_send_hook_attempt_timeout_ms",
    "before_message_send_hook_url",
    "cdn_expiration_seconds",
    "channel_configs",
    "channel_hide_members_only",
    "chat_primary_use_case",
    "custom_action_handler_url",
    "datadog_info",
    "disable_auth_checks",
    "disable_permissions_checks",
    "enable_hook_payload_compression",
    "enforce_unique_usernames",
    "event_hooks",
    "explicit_event_hooks_deletion",
    "feed_audit_logs_enabled",
    "feeds_moderation_enabled",
    "feeds_v2_region",
    "file_upload_config",
    "firebase_config",
    "grants",
    "guest_user_creation_disabled",
    "huawei_config",
    "image_moderation_block_labels",
    "image_moderation_enabled",
    "image_moderation_labels",
    "image_upload_config",
    "max_aggregated_activities_length",
    "member_custom_on_mentioned_users_enabled",
    "member_custom_on_messages_enabled",
    "member_custom_on_typing_events_enabled",
    "migrate_permissions_to_v2",
    "moderation_analytics_enabled",
    "moderation_dashboard_preferences",
    "moderation_enabled",
    "moderation_onboarding_complete",
    "moderation_s3_image_access_role_arn",
    "moderation_webhook_url",
    "multi_tenant_enabled",
    "name",
    "organization",
    "permission_version",
    "placement",
    "policies",
    "push_config",
    "push_notifications",
    "reminders_interval",
    "reminders_max_members",
    "reminders_max_per_user",
    "revoke_tokens_issued_before",
    "shared_locations_enabled",
    "sns_key",
    "sns_secret",
    "sns_topic_arn",
    "sqs_key",
    "sqs_secret",
    "sqs_url",
    "suspended",
    "suspended_explanation",
    "user_response_time_enabled",
    "user_search_disallowed_roles",
    "video_primary_use_case",
    "video_provider",
    "webhook_events",
    "webhook_url",
    "xiaomi_config",
];

/// Roster's own settings (README, "App settings").
const ROSTER: &[&str] = &[
    "roster_connect_fill_only",
    "roster_guests_enabled",
    "roster_hidden_fields",
    "roster_rate_limits",
    "roster_server_only_fields",
    "roster_username_skeletons",
];

/// Whether `key` names a setting (Stream's or Roster's).
pub fn is_setting(key: &str) -> bool {
    STREAM.binary_search(&key).is_ok() || ROSTER.contains(&key)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn knows_streams_settings_and_roster_s_own_only() {
        assert!(STREAM.windows(2).all(|w| w[0] < w[1]), "sorted, for binary_search");
        for k in ["enforce_unique_usernames", "webhook_url", "push_notifications", "policies", "roster_rate_limits"] {
            assert!(is_setting(k), "{k}");
        }
        for k in ["enforce_unique_username", "roster_marker", "", "Enforce_unique_usernames"] {
            assert!(!is_setting(k), "{k}");
        }
    }
}
