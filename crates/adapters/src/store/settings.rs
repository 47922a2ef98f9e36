//! Deployment settings kept in the database (generated keys).

use super::DieselStore;
use crate::schema::settings;
use diesel::prelude::*;
use roomwarden_domain::ports::StoreResult;

impl DieselStore {
    /// The stored value of `name`, storing `generate()` first when there is none. Of two
    /// processes racing on a fresh database, both end up with the value that was stored first.
    /// The flag tells whether this call stored it.
    ///
    /// # Errors
    /// A storage failure.
    pub fn setting_or_insert(
        &self,
        name: &str,
        generate: impl Fn() -> String,
    ) -> StoreResult<(String, bool)> {
        // Read first, then insert outside a transaction: it runs at start-up, before any
        // traffic, and a racing process's row is read back on the key violation.
        self.with_conn(|conn| {
            let read = |conn: &mut _| {
                settings::table
                    .find(name)
                    .select(settings::value)
                    .first::<String>(conn)
                    .optional()
            };
            if let Some(value) = read(conn)? {
                return Ok((value, false));
            }
            let value = generate();
            match diesel::insert_into(settings::table)
                .values((settings::name.eq(name), settings::value.eq(&value)))
                .execute(conn)
            {
                Ok(_) => Ok((value, true)),
                Err(e) if crate::error::is_unique_violation(&e) => read(conn)?
                    .map(|v| (v, false))
                    .ok_or(diesel::result::Error::NotFound),
                Err(e) => Err(e),
            }
        })
    }
}
