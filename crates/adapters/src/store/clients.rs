//! [`ClientStore`] over the `clients` and `tokens` tables.

use super::{DieselStore, Writes, unsigned};
use crate::db::DbConnection;
use crate::rows::{ClientRow, ClientUpdate, NewClientRow, NewTokenRow, from_ms, to_ms};
use crate::schema::{clients, tokens};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use roomwarden_domain::ids::ClientId;
use roomwarden_domain::model::{Client, ClientChanges, NewToken, TokenHash, TokenRecord};
use roomwarden_domain::ports::{ClientStore, StoreResult};

/// Updates the given fields; `false` when the client does not exist.
fn update_client(conn: &mut DbConnection, changes: &ClientChanges, now: i64) -> QueryResult<bool> {
    let update = ClientUpdate {
        nickname: changes.nickname.as_deref(),
        avatar_url: changes.avatar_url.as_deref(),
        is_platform_admin: changes.is_platform_admin,
        updated_at: now,
    };
    let n = diesel::update(clients::table.find(changes.id.as_str()))
        .set(&update)
        .execute(conn)?;
    Ok(n > 0)
}

/// Update, or insert when absent; an insert that loses a race to a concurrent one updates.
fn upsert_client(conn: &mut DbConnection, changes: &ClientChanges, now: i64) -> QueryResult<()> {
    if update_client(conn, changes, now)? {
        return Ok(());
    }
    let row = NewClientRow {
        id: changes.id.as_str(),
        nickname: changes.nickname.as_deref(),
        avatar_url: changes.avatar_url.as_deref(),
        is_platform_admin: changes.is_platform_admin.unwrap_or(false),
        created_at: now,
        updated_at: now,
    };
    match diesel::insert_into(clients::table)
        .values(&row)
        .execute(conn)
    {
        Ok(_) => Ok(()),
        Err(e) if crate::error::is_unique_violation(&e) => {
            update_client(conn, changes, now).map(|_| ())
        }
        Err(e) => Err(e),
    }
}

/// Who holds a token hash today, if anyone.
fn token_owner(conn: &mut DbConnection, hash: &str) -> QueryResult<Option<String>> {
    tokens::table
        .find(hash)
        .select(tokens::client_id)
        .first(conn)
        .optional()
}

/// One attempt of [`ClientStore::save_client`]: `None` (nothing written) when the token is
/// another client's.
///
/// The first statement writes (the client upsert), as in every write transaction of this
/// store: on SQLite a transaction that reads first and writes later fails at once with
/// `SQLITE_BUSY` when another connection committed in between, while one that writes first
/// waits for the lock.
fn save_client_tx(
    writes: &Writes<'_>,
    conn: &mut DbConnection,
    changes: &ClientChanges,
    token: Option<&NewToken>,
    now: i64,
) -> QueryResult<Option<Client>> {
    let saved = writes.write(conn, |conn| {
        upsert_client(conn, changes, now)?;
        if let Some(token) = token {
            let owner = token_owner(conn, &token.hash.0)?;
            if owner.as_deref().is_some_and(|o| o != changes.id.as_str()) {
                return Err(diesel::result::Error::RollbackTransaction);
            }
            diesel::update(tokens::table.filter(tokens::client_id.eq(changes.id.as_str())))
                .set(tokens::revoked.eq(true))
                .execute(conn)?;
            if owner.is_some() {
                diesel::update(tokens::table.find(&token.hash.0))
                    .set((
                        tokens::revoked.eq(false),
                        tokens::expires_at.eq(to_ms(token.expires_at)),
                    ))
                    .execute(conn)?;
            } else {
                diesel::insert_into(tokens::table)
                    .values(NewTokenRow {
                        token_hash: &token.hash.0,
                        client_id: changes.id.as_str(),
                        expires_at: to_ms(token.expires_at),
                        revoked: false,
                        created_at: now,
                    })
                    .execute(conn)?;
            }
        }
        clients::table
            .find(changes.id.as_str())
            .select(ClientRow::as_select())
            .first(conn)
            .map(Client::from)
    });
    match saved {
        Ok(client) => Ok(Some(client)),
        // Another client's token: rolled back, so the upsert is undone too.
        Err(diesel::result::Error::RollbackTransaction) => Ok(None),
        Err(e) => Err(e),
    }
}

impl ClientStore for DieselStore {
    fn find_token(&self, hash: &TokenHash) -> StoreResult<Option<TokenRecord>> {
        self.with_conn(|conn| {
            let row = tokens::table
                .inner_join(clients::table)
                .filter(tokens::token_hash.eq(&hash.0))
                .select((
                    tokens::client_id,
                    clients::is_platform_admin,
                    tokens::expires_at,
                    tokens::revoked,
                ))
                .first::<(String, bool, i64, bool)>(conn)
                .optional()?;
            Ok(row.map(
                |(client_id, is_platform_admin, expires_at, revoked)| TokenRecord {
                    client_id: ClientId::from_trusted(client_id),
                    is_platform_admin,
                    expires_at: from_ms(expires_at),
                    revoked,
                },
            ))
        })
    }

    fn find_tokens(&self, hashes: &[TokenHash]) -> StoreResult<Vec<(TokenHash, TokenRecord)>> {
        /// Hashes per query: well under every backend's limit on bound parameters.
        const CHUNK: usize = 500;
        self.with_conn(|conn| {
            let mut found = Vec::new();
            for chunk in hashes.chunks(CHUNK) {
                let wanted: Vec<&str> = chunk.iter().map(|h| h.0.as_str()).collect();
                let rows = tokens::table
                    .inner_join(clients::table)
                    .filter(tokens::token_hash.eq_any(&wanted))
                    .select((
                        tokens::token_hash,
                        tokens::client_id,
                        clients::is_platform_admin,
                        tokens::expires_at,
                        tokens::revoked,
                    ))
                    .load::<(String, String, bool, i64, bool)>(conn)?;
                found.extend(rows.into_iter().map(
                    |(hash, client_id, is_platform_admin, expires_at, revoked)| {
                        (
                            TokenHash(hash),
                            TokenRecord {
                                client_id: ClientId::from_trusted(client_id),
                                is_platform_admin,
                                expires_at: from_ms(expires_at),
                                revoked,
                            },
                        )
                    },
                ));
            }
            Ok(found)
        })
    }

    fn get_client(&self, id: &ClientId) -> StoreResult<Option<Client>> {
        self.with_conn(|conn| {
            let row = clients::table
                .find(id.as_str())
                .select(ClientRow::as_select())
                .first(conn)
                .optional()?;
            Ok(row.map(Client::from))
        })
    }

    fn save_client(
        &self,
        changes: &ClientChanges,
        token: Option<&NewToken>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Client>> {
        let now = to_ms(now);
        let writes = self.writes();
        self.with_conn(|conn| {
            // Two identical assignments racing may both find the token absent; the loser's
            // insert fails on the key, and its second attempt sees the winner's row.
            match save_client_tx(&writes, conn, changes, token, now) {
                Err(e) if crate::error::is_unique_violation(&e) => {
                    save_client_tx(&writes, conn, changes, token, now)
                }
                other => other,
            }
        })
    }

    fn revoke_tokens(
        &self,
        client: &ClientId,
        only: Option<&TokenHash>,
    ) -> StoreResult<Option<u64>> {
        self.with_write(|conn| {
            let mut target = tokens::table
                .filter(tokens::client_id.eq(client.as_str()))
                .filter(tokens::revoked.eq(false))
                .into_boxed();
            if let Some(hash) = only {
                target = target.filter(tokens::token_hash.eq(&hash.0));
            }
            let wanted: Vec<String> = target.select(tokens::token_hash).load(conn)?;
            let revoked = if wanted.is_empty() {
                0
            } else {
                diesel::update(tokens::table.filter(tokens::token_hash.eq_any(&wanted)))
                    .set(tokens::revoked.eq(true))
                    .execute(conn)?
            };
            if revoked == 0 {
                let exists = clients::table
                    .find(client.as_str())
                    .count()
                    .get_result::<i64>(conn)?
                    > 0;
                if !exists {
                    return Ok(None);
                }
            }
            Ok(Some(unsigned(revoked)))
        })
    }

    fn missing_clients(&self, ids: &[ClientId]) -> StoreResult<Vec<ClientId>> {
        self.with_conn(|conn| {
            let wanted: Vec<&str> = ids.iter().map(ClientId::as_str).collect();
            let found: Vec<String> = clients::table
                .filter(clients::id.eq_any(&wanted))
                .select(clients::id)
                .load(conn)?;
            Ok(ids
                .iter()
                .filter(|id| !found.iter().any(|f| f == id.as_str()))
                .cloned()
                .collect())
        })
    }
}
