//! The diesel schema, shared by both backends (the SQL of each lives in `migrations/`).

diesel::table! {
    settings (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    clients (id) {
        id -> Text,
        nickname -> Nullable<Text>,
        avatar_url -> Nullable<Text>,
        is_platform_admin -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    tokens (token_hash) {
        token_hash -> Text,
        client_id -> Text,
        expires_at -> BigInt,
        revoked -> Bool,
        created_at -> BigInt,
    }
}

diesel::table! {
    rooms (id) {
        id -> Text,
        name -> Nullable<Text>,
        room_type -> Text,
        owner -> Nullable<Text>,
        webhook -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        cleared_through_seq -> BigInt,
        purged_through_seq -> BigInt,
        write_version -> BigInt,
        visible_count -> BigInt,
        retention_days -> Nullable<Integer>,
        retention_set_by -> Nullable<Text>,
        retention_set_at -> Nullable<BigInt>,
        audit_head -> Nullable<Text>,
        open_reports -> BigInt,
    }
}

diesel::table! {
    room_members (room_id, client_id) {
        room_id -> Text,
        client_id -> Text,
        is_manager -> Bool,
        joined_at -> BigInt,
    }
}

diesel::table! {
    messages (seq) {
        seq -> BigInt,
        id -> Text,
        room_id -> Text,
        sender -> Text,
        message_type -> Text,
        body -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    deletions (seq) {
        seq -> BigInt,
        id -> Text,
        room_id -> Text,
        message_id -> Text,
        deleted_count -> BigInt,
        deleted_by -> Text,
        deleted_at -> BigInt,
        reason -> Nullable<Text>,
        filter -> Nullable<Text>,
        message_ids -> Nullable<Text>,
        retention_days -> Nullable<Integer>,
        retention_set_by -> Nullable<Text>,
        retention_set_at -> Nullable<BigInt>,
        hash -> Nullable<Text>,
        report_ids -> Nullable<Text>,
        report_count -> BigInt,
    }
}

diesel::joinable!(tokens -> clients (client_id));
diesel::joinable!(messages -> rooms (room_id));
diesel::joinable!(room_members -> rooms (room_id));

diesel::allow_tables_to_appear_in_same_query!(
    settings,
    clients,
    tokens,
    rooms,
    room_members,
    messages,
    deletions,
);

diesel::table! {
    outbox (seq) {
        seq -> BigInt,
        deletion_id -> Text,
        room_id -> Text,
        message_id -> Text,
        payload -> Text,
        created_at -> BigInt,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        claimed_by -> Nullable<Text>,
        claimed_until -> BigInt,
        finished_at -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        redelivered_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(outbox -> rooms (room_id));
diesel::allow_tables_to_appear_in_same_query!(outbox, rooms);

diesel::table! {
    idempotency_keys (caller, idem_key) {
        caller -> Text,
        idem_key -> Text,
        fingerprint -> Text,
        claim_id -> Text,
        state -> Text,
        status -> Nullable<Integer>,
        content_type -> Nullable<Text>,
        body -> Nullable<Binary>,
        content_room -> Nullable<Text>,
        content_message -> Nullable<Text>,
        redacted_body -> Nullable<Binary>,
        created_at -> BigInt,
        lease_until -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    erasures (seq) {
        seq -> BigInt,
        deletion_id -> Text,
        room_id -> Text,
        sender -> Text,
        above_seq -> BigInt,
        through_seq -> BigInt,
        after_ms -> BigInt,
        before_ms -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(erasures, messages);
diesel::allow_tables_to_appear_in_same_query!(erasures, rooms);

diesel::table! {
    room_changes (seq) {
        seq -> BigInt,
        id -> Text,
        room_id -> Text,
        changed_by -> Text,
        changed_at -> BigInt,
        changes -> Text,
        reason -> Nullable<Text>,
        hash -> Nullable<Text>,
    }
}

diesel::table! {
    reports (seq) {
        seq -> BigInt,
        id -> Text,
        room_id -> Text,
        message_id -> Text,
        message_seq -> BigInt,
        sender -> Text,
        message_created_at -> BigInt,
        reporter -> Text,
        category -> Text,
        reason -> Nullable<Text>,
        created_at -> BigInt,
        state -> Text,
        deletion_id -> Nullable<Text>,
        dismissed_by -> Nullable<Text>,
        dismissed_at -> Nullable<BigInt>,
        dismiss_reason -> Nullable<Text>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(reports, rooms);
diesel::allow_tables_to_appear_in_same_query!(reports, messages);
