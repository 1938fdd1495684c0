//! The object's SQL calls on its storage view: the database opens at the first call of an
//! activation and joins the running event (and its nested transactions).

use super::ObjectStorage;
use crate::store::error::StoreError;
use crate::store::sql::{SqlDb, SqlOutput, SqlRefusal, SqlResult, SqlValue, schema};

impl ObjectStorage {
    /// The open database, opening it first if needed; `Ok(Err(_))` if the class has no SQL.
    fn sql_db(&mut self) -> SqlResult<&mut SqlDb> {
        if !self.limits.sql.enabled {
            let (namespace, _) = self.object.parts();
            return Ok(Err(SqlRefusal::NotSqlite {
                namespace: namespace.to_owned(),
            }));
        }
        if self.sql.is_none() {
            self.sql = Some(SqlDb::open(&self.db, &self.object, self.limits.sql)?);
        }
        Ok(Ok(self.sql.as_mut().expect("opened above")))
    }

    /// Runs `query` with `params` in the running event.
    pub fn sql_exec(&mut self, query: &str, params: &[SqlValue]) -> SqlResult<SqlOutput> {
        let nested = self.nested.len();
        match self.sql_db()? {
            Ok(db) => db.exec(query, params, nested),
            Err(e) => Ok(Err(e)),
        }
    }

    /// Bytes of the object's database (`databaseSize`), the running event's changes included.
    pub fn sql_size(&mut self) -> SqlResult<u64> {
        match self.sql_db()? {
            Ok(db) => Ok(Ok(db.size())),
            Err(e) => Ok(Err(e)),
        }
    }

    /// Commits the running event's SQL transaction into its write set. `Ok(Err(_))` fails the
    /// event with what the guest is told (a deferred constraint, the event's page budget).
    pub fn commit_sql(&mut self) -> SqlResult<()> {
        match &mut self.sql {
            Some(db) => db.commit_event(),
            None => Ok(Ok(())),
        }
    }

    /// Delete-all's SQL part: drops every table of a database the object has.
    pub(super) fn clear_sql(&mut self) -> Result<(), StoreError> {
        if !self.limits.sql.enabled {
            return Ok(());
        }
        if self.sql.is_none() && schema::size(&self.db, &self.object)? == 0 {
            return Ok(());
        }
        let nested = self.nested.len();
        match self.sql_db()? {
            Ok(db) => match db.clear(nested)? {
                Ok(()) => Ok(()),
                Err(e) => Err(StoreError::Sql {
                    reason: format!("delete-all could not drop the SQL tables: {e}"),
                }),
            },
            Err(_) => Ok(()),
        }
    }
}

#[cfg(test)]
#[path = "view_sql_tests.rs"]
mod tests;
