//! The storage contract as a published test suite (feature `testkit`).
//!
//! Every port's documented guarantees (exactly one success for concurrent deletes, exact
//! clear counts, visibility, permission checks made as the room is when a change takes
//! effect, audit records written with the deletion, room-change records written with the
//! change, tokens belonging to one client) are checked here by plain functions over any
//! store that implements the five ports. The
//! [`store_contract!`](crate::store_contract) macro turns them into one `#[test]` each, so
//! an adapter author runs the whole suite in a few lines; Roomwarden runs it against its
//! own [`crate::memory::MemoryStore`] and its diesel store (SQLite and MySQL).
//!
//! ```
//! // tests/contract.rs of a crate with its own adapter. Here the adapter is the memory
//! // store, wrapped as a third-party store with something to keep alive would be.
//! use roomwarden_domain::memory::MemoryStore;
//! use roomwarden_domain::testkit::{self, StoreFixture};
//!
//! /// A fresh store and whatever must live as long as it (a temporary database, ...).
//! struct Fresh(MemoryStore);
//!
//! impl StoreFixture for Fresh {
//!     type Store = MemoryStore;
//!     fn store(&self) -> &MemoryStore {
//!         &self.0
//!     }
//! }
//!
//! // One #[test] per case, each with a new, empty store.
//! roomwarden_domain::store_contract!(Fresh(MemoryStore::new()));
//!
//! fn main() {
//!     // A single case can also be called directly, with any store:
//!     testkit::deletion::concurrent_deletes_of_one_message_succeed_exactly_once(&MemoryStore::new());
//! }
//! ```
//!
//! A store that needs nothing kept alive beside it implements the trait for itself, as
//! `MemoryStore` does. Each case expects an empty store; IDs are short ASCII strings.
//!
//! A store that also implements [`crate::ports::IdempotencyStore`] runs its cases with
//! [`idempotency_contract!`](crate::idempotency_contract), the same way; the port is
//! optional, so [`store_contract!`](crate::store_contract) does not ask for it.

pub mod audit;
pub mod clients;
pub mod content;
pub mod deletion;
pub mod fixtures;
pub mod idempotency;
pub mod messages;
pub mod moderation;
pub mod reports;
pub mod room_changes;
pub mod rooms;

use crate::ports::{AuditStore, ClientStore, MessageStore, ReportStore, RoomStore};

/// Every storage port at once: what the contract cases take.
pub trait ContractStore: ClientStore + RoomStore + MessageStore + AuditStore + ReportStore {}

impl<T: ClientStore + RoomStore + MessageStore + AuditStore + ReportStore + ?Sized> ContractStore
    for T
{
}

/// A fresh store under test, with whatever must stay alive while it is used (a temporary
/// database that is removed on drop, say).
pub trait StoreFixture {
    /// The adapter under test.
    type Store: ContractStore;

    /// The store the cases run against.
    fn store(&self) -> &Self::Store;
}

#[cfg(feature = "memory")]
impl StoreFixture for crate::memory::MemoryStore {
    type Store = Self;

    fn store(&self) -> &Self {
        self
    }
}

/// Declares one `#[test]` per contract case, each running against the fixture that
/// `$fresh` evaluates to (evaluated anew for every case). See [`testkit`](crate::testkit).
#[macro_export]
macro_rules! store_contract {
    ($fresh:expr) => {
        $crate::store_contract!(@cases $fresh;
            audit::audit_records_are_newest_first_filterable_and_paged,
            audit::audit_records_chain_per_room_and_list_oldest_first,
            clients::upsert_creates_then_updates_only_given_fields,
            clients::a_new_token_revokes_the_previous_ones,
            clients::a_token_is_one_clients_and_reassigning_it_revives_it,
            clients::find_tokens_answers_for_many_hashes_at_once,
            clients::revoke_counts_only_live_tokens_and_knows_unknown_clients,
            clients::missing_clients_lists_exactly_the_unknown_ids,
            clients::ids_are_case_sensitive,
            content::a_clear_by_content_removes_exactly_the_matches,
            content::matches_are_found_across_rooms_in_a_window,
            content::a_content_clear_racing_with_sends_loses_nothing,
            deletion::one_message_is_removed_once_and_audited,
            deletion::storage_checks_the_role_in_force_when_the_deletion_takes_effect,
            deletion::a_message_of_another_room_is_not_found_and_kept,
            deletion::concurrent_deletes_of_one_message_succeed_exactly_once,
            deletion::concurrent_deletes_of_one_room_each_keep_their_own_outcome,
            deletion::clear_counts_exactly_and_spares_later_messages,
            deletion::clear_racing_with_sends_loses_nothing,
            deletion::a_cleared_message_is_invisible_at_once,
            deletion::counts_stay_exact_under_racing_sends_deletes_and_clears,
            messages::message_ids_are_unique_across_rooms,
            messages::list_is_newest_first_with_cursor_and_total,
            messages::a_cursor_from_another_room_is_unknown,
            messages::recall_blanks_content_and_keeps_the_message,
            moderation::a_sender_filtered_clear_removes_only_that_senders_messages,
            moderation::time_and_message_bounds_cut_the_room,
            moderation::bulk_deletes_the_visible_listed_messages_once,
            moderation::several_rooms_in_one_call_and_a_senders_rooms,
            moderation::expired_messages_are_invisible_before_the_job_runs,
            moderation::a_clear_takes_what_only_the_retention_hides_uncounted,
            moderation::a_purge_racing_with_the_users_sends_loses_nothing,
            moderation::a_filtered_clear_racing_with_sends_loses_nothing,
            moderation::bulk_and_single_deletes_of_the_same_messages_report_each_once,
            reports::reports_are_checked_in_order_and_filed_once_per_reporter,
            reports::the_queue_is_most_reported_first_and_pages,
            reports::deletions_resolve_the_open_reports_of_what_they_remove,
            reports::a_purge_across_rooms_resolves_each_room_s_reports,
            reports::dismissal_checks_the_role_and_closes_every_open_report,
            reports::the_rate_counts_new_reports_in_the_window,
            reports::queue_items_follow_every_change_of_their_reports,
            rooms::a_room_keeps_owner_managers_and_members,
            rooms::a_taken_room_id_changes_nothing,
            rooms::update_changes_owner_managers_and_webhook,
            rooms::storage_checks_the_roles_in_force_when_an_update_takes_effect,
            rooms::members_are_added_once_and_removed_with_their_role,
            rooms::membership_changes_check_the_roles_in_force,
            rooms::rooms_are_listed_newest_first_with_a_cursor_and_a_member_filter,
            room_changes::each_room_change_is_recorded_once_with_from_and_to,
            room_changes::room_changes_are_listed_newest_first_with_a_cursor,
            room_changes::a_retention_deletion_names_who_set_the_retention,
        );
    };
    (@cases $fresh:expr; $($module:ident :: $case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let fixture = $fresh;
                $crate::testkit::$module::$case($crate::testkit::StoreFixture::store(&fixture));
            }
        )*
    };
}

/// Declares one `#[test]` per case of the idempotency port ([`idempotency`]) against the
/// fixture that `$fresh` evaluates to, whose store implements
/// [`crate::ports::IdempotencyStore`] beside the five ports of [`ContractStore`].
#[macro_export]
macro_rules! idempotency_contract {
    ($fresh:expr) => {
        $crate::store_contract!(@cases $fresh;
            idempotency::a_new_key_starts_and_holds_until_finished,
            idempotency::a_completed_key_replays_its_answer_exactly,
            idempotency::a_released_key_runs_again,
            idempotency::a_lapsed_lease_is_taken_over,
            idempotency::an_expired_key_is_new_and_swept,
            idempotency::concurrent_claims_of_one_key_start_exactly_once,
            idempotency::deleted_messages_leave_only_redacted_answers,
            idempotency::an_owner_at_its_cap_cannot_claim_new_keys,
        );
    };
}
