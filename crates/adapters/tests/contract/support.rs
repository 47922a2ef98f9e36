//! Fresh diesel stores for the contract tests; the fixtures are the domain testkit's.

use roomwarden_adapters::testing::FreshDatabase;
use roomwarden_adapters::{Backend, Database, DieselStore, PoolOptions};
use roomwarden_domain::testkit::StoreFixture;

pub use roomwarden_domain::testkit::fixtures::*;

/// A store over a fresh database (removed on drop, for SQLite).
pub struct TestStore {
    pub store: DieselStore,
    database: FreshDatabase,
}

impl TestStore {
    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.database.url
    }

    /// The SQLite file, when the run uses SQLite.
    pub fn sqlite_file(&self) -> Option<&std::path::Path> {
        self.database.sqlite_file.as_deref()
    }
}

impl StoreFixture for TestStore {
    type Store = DieselStore;
    fn store(&self) -> &DieselStore {
        &self.store
    }
}

impl std::ops::Deref for TestStore {
    type Target = DieselStore;
    fn deref(&self) -> &DieselStore {
        &self.store
    }
}

pub fn store() -> TestStore {
    store_with_batch(roomwarden_adapters::PURGE_BATCH)
}

pub fn store_with_batch(batch: usize) -> TestStore {
    let database = FreshDatabase::new();
    let db = Database::connect(&database.url, &PoolOptions::default())
        .expect("test database must be reachable");
    TestStore {
        store: DieselStore::new(db).with_purge_batch(batch),
        database,
    }
}

pub fn is_sqlite(store: &TestStore) -> bool {
    store.database().backend() == Backend::Sqlite
}

/// A store over a fresh database whose pool has `max_size` connections and gives up
/// waiting for one after `checkout_timeout`.
pub fn store_with_pool(max_size: u32, checkout_timeout: std::time::Duration) -> TestStore {
    let database = FreshDatabase::new();
    let options = PoolOptions {
        max_size,
        checkout_timeout,
        ..PoolOptions::default()
    };
    let db = Database::connect(&database.url, &options).expect("test database must be reachable");
    TestStore {
        store: DieselStore::new(db),
        database,
    }
}
