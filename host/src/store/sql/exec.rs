//! Running a guest's query: the checks of one call, a single statement (prepared once and
//! cached) or several in a savepoint of their own, binding the parameters, collecting the rows
//! of the last statement within the result bound, and counting rows read and written.

use rusqlite::StatementStatus;
use rusqlite::types::ValueRef;

use super::database::{Failure, SqlDb, SqlLimits, SqlResult, Step, lock};
use super::rules;
use super::value::{SqlOutput, SqlRefusal, SqlValue};

impl SqlDb {
    /// Runs `query` (one or more statements; `params` bind to the one that takes parameters).
    pub(in crate::store) fn exec(
        &mut self,
        query: &str,
        params: &[SqlValue],
        nested: usize,
    ) -> SqlResult<SqlOutput> {
        if query.len() > rules::MAX_QUERY_BYTES {
            return Ok(Err(SqlRefusal::TooLarge(format!(
                "the SQL query is {} bytes, over the limit of {} bytes",
                query.len(),
                rules::MAX_QUERY_BYTES
            ))));
        }
        if params.len() > rules::MAX_BINDINGS {
            return Ok(Err(SqlRefusal::TooLarge(format!(
                "{} bindings, over the limit of {} per query",
                params.len(),
                rules::MAX_BINDINGS
            ))));
        }
        if let Err(f) = self.enter(nested) {
            return self.settle(Err(f));
        }
        let body = query.trim_end().trim_end_matches(';');
        let r = if body.contains(';') {
            // Several statements: they succeed or fail together.
            self.internal("SAVEPOINT _hf_exec").and_then(|()| {
                let r = self.run_batch(query, params);
                let end = if r.is_ok() {
                    "RELEASE _hf_exec"
                } else {
                    "ROLLBACK TO _hf_exec; RELEASE _hf_exec"
                };
                self.internal(end).and(r)
            })
        } else {
            self.run_one(body, params)
        };
        lock(&self.file).release_reader();
        self.settle(r)
    }

    fn run_one(&mut self, query: &str, params: &[SqlValue]) -> Step<SqlOutput> {
        rules::check_text(query).map_err(SqlRefusal::NotAllowed)?;
        let mut out = SqlOutput::default();
        let before = self.conn.total_changes();
        let result = match self.conn.prepare_cached(query) {
            Ok(mut stmt) => run_statement(&mut stmt, params, true, &mut out, self.limits),
            Err(e) => Err(StepError::Sqlite(e)),
        };
        result.map_err(|e| self.step_failure(e))?;
        out.rows_written = self.conn.total_changes() - before;
        out.rows_read = out.rows_read.max(out.rows_written);
        Ok(out)
    }

    fn run_batch(&mut self, query: &str, params: &[SqlValue]) -> Step<SqlOutput> {
        use fallible_iterator::FallibleIterator;
        let mut out = SqlOutput::default();
        let mut bound = false;
        let before = self.conn.total_changes();
        let mut batch = rusqlite::Batch::new(&self.conn, query);
        let mut result = Ok(());
        loop {
            let mut stmt = match batch.next() {
                Ok(Some(s)) => s,
                Ok(None) => break,
                Err(e) => {
                    result = Err(StepError::Sqlite(e));
                    break;
                }
            };
            if let Some(text) = stmt.expanded_sql()
                && let Err(why) = rules::check_text(&text)
            {
                result = Err(StepError::Refused(SqlRefusal::NotAllowed(why)));
                break;
            }
            let takes = stmt.parameter_count() > 0;
            if takes && bound {
                result = Err(StepError::Refused(SqlRefusal::InvalidArgument(
                    "bindings apply to the last statement of a query; an earlier one takes parameters too".into(),
                )));
                break;
            }
            let mut last = SqlOutput::default();
            let given = if takes { params } else { &[] };
            let r = run_statement(&mut stmt, given, takes, &mut last, self.limits);
            bound |= takes;
            out.rows_read += last.rows_read;
            out.columns = last.columns;
            out.rows = last.rows;
            if let Err(e) = r {
                result = Err(e);
                break;
            }
        }
        drop(batch);
        if result.is_ok() && !bound && !params.is_empty() {
            result = Err(StepError::Refused(SqlRefusal::InvalidArgument(format!(
                "{} bindings given, but the query takes none",
                params.len()
            ))));
        }
        result.map_err(|e| self.step_failure(e))?;
        out.rows_written = self.conn.total_changes() - before;
        out.rows_read = out.rows_read.max(out.rows_written);
        Ok(out)
    }

    fn step_failure(&self, e: StepError) -> Failure {
        match e {
            StepError::Sqlite(e) => self.failure(e),
            StepError::Refused(r) => Failure::Refused(r),
        }
    }
}

enum StepError {
    Sqlite(rusqlite::Error),
    Refused(SqlRefusal),
}

impl From<rusqlite::Error> for StepError {
    fn from(e: rusqlite::Error) -> Self {
        StepError::Sqlite(e)
    }
}

/// Binds `params` (if `bind`), steps the statement to its end, and collects its rows.
fn run_statement(
    stmt: &mut rusqlite::Statement<'_>,
    params: &[SqlValue],
    bind: bool,
    out: &mut SqlOutput,
    limits: SqlLimits,
) -> Result<(), StepError> {
    let wanted = stmt.parameter_count();
    if bind {
        if params.len() != wanted {
            return Err(StepError::Refused(SqlRefusal::InvalidArgument(format!(
                "the query takes {wanted} bindings, got {}",
                params.len()
            ))));
        }
        for (i, p) in params.iter().enumerate() {
            match p {
                SqlValue::Null => stmt.raw_bind_parameter(i + 1, rusqlite::types::Null)?,
                SqlValue::Integer(v) => stmt.raw_bind_parameter(i + 1, v)?,
                SqlValue::Real(v) => stmt.raw_bind_parameter(i + 1, v)?,
                SqlValue::Text(v) => stmt.raw_bind_parameter(i + 1, v.as_str())?,
                SqlValue::Blob(v) => stmt.raw_bind_parameter(i + 1, v.as_slice())?,
            }
        }
    }
    let columns = stmt.column_count();
    out.columns = (0..columns)
        .map(|i| stmt.column_name(i).map(str::to_owned))
        .collect::<rusqlite::Result<_>>()?;
    let mut bytes = 0;
    let mut returned = 0u64;
    let mut rows_out = Vec::new();
    {
        let mut rows = stmt.raw_query();
        while let Some(row) = rows.next()? {
            returned += 1;
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                let v = match row.get_ref(i)? {
                    ValueRef::Null => SqlValue::Null,
                    ValueRef::Integer(v) => SqlValue::Integer(v),
                    ValueRef::Real(v) => SqlValue::Real(v),
                    ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
                };
                bytes += v.bytes();
                values.push(v);
            }
            if bytes > limits.max_result_bytes {
                return Err(StepError::Refused(SqlRefusal::TooLarge(format!(
                    "the query's result passed {} bytes, the limit for one exec(); select fewer rows (LIMIT) or columns",
                    limits.max_result_bytes
                ))));
            }
            rows_out.push(values);
        }
    }
    // Full scans step `n - 1` times over `n` rows (the first row is reached without a step).
    let steps = stmt.get_status(StatementStatus::FullscanStep) as u64;
    let scanned = if steps > 0 { steps + 1 } else { 0 };
    out.rows = rows_out;
    out.rows_read = returned.max(scanned);
    Ok(())
}
