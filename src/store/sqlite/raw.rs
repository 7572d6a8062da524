//! Statements run straight through SQLite's C API, on a connection sqlx
//! has handed over (`lock_handle`): the import's batch upsert and its count
//! query, where sqlx's per-value copies (an `Arc<str>` on the calling
//! thread, a second copy inside SQLite, both freed on SQLite's thread) and
//! the allocator's work for them took about a sixth of a million-row
//! import. Values are bound without a copy and only borrowed for one `run`
//! or `query`.
//!
//! This is the one place in Gazette with `unsafe`; each block says why it
//! holds. A future that holds a `Statement` is not `Send` (the import runs
//! on the command's own task).

use std::ffi::{c_int, CStr};
use std::ptr::NonNull;

use libsqlite3_sys as ffi;

/// The connection of a `LockedSqliteHandle`, borrowed from it: while a
/// `Conn` (and every statement prepared on it) lives, sqlx's own thread
/// makes no call on the connection.
pub struct Conn<'h> {
    db: NonNull<ffi::sqlite3>,
    _lock: std::marker::PhantomData<&'h mut ()>,
}

impl<'h> Conn<'h> {
    pub fn new(handle: &'h mut sqlx::sqlite::LockedSqliteHandle<'_>) -> Self {
        Conn {
            db: handle.as_raw_handle(),
            _lock: std::marker::PhantomData,
        }
    }
}

/// A prepared statement on a `Conn`, finalized when dropped (before the
/// `Conn`, which it borrows, and so before the connection is unlocked).
pub struct Statement<'h> {
    db: NonNull<ffi::sqlite3>,
    stmt: NonNull<ffi::sqlite3_stmt>,
    params: usize,
    _conn: std::marker::PhantomData<&'h ()>,
}

impl<'h> Statement<'h> {
    /// Prepare `sql` (one statement) on `conn`.
    pub fn prepare(conn: &'h Conn<'_>, sql: &str) -> Result<Self, sqlx::Error> {
        let db = conn.db;
        let len = c_int::try_from(sql.len()).map_err(|_| generic("statement too long"))?;
        let mut stmt = std::ptr::null_mut();
        // SAFETY: `db` is an open connection that nobody else uses while
        // the handle is borrowed; `sql` is valid for `len` bytes (SQLite
        // reads no further and keeps no pointer into it).
        let rc = unsafe {
            ffi::sqlite3_prepare_v2(
                db.as_ptr(),
                sql.as_ptr().cast(),
                len,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(last_error(db));
        }
        let stmt = NonNull::new(stmt).ok_or_else(|| generic("empty statement"))?;
        // SAFETY: `stmt` was just prepared and is not finalized.
        let params = unsafe { ffi::sqlite3_bind_parameter_count(stmt.as_ptr()) } as usize;
        Ok(Statement {
            db,
            stmt,
            params,
            _conn: std::marker::PhantomData,
        })
    }

    /// Bind `values` to the statement's parameters in order (`None` is
    /// NULL), run it to the end, and return the rows it changed. The
    /// values are not copied: SQLite reads them during this call only (the
    /// statement is reset and its bindings cleared before returning).
    pub fn run(&mut self, values: &[Option<&str>]) -> Result<u64, sqlx::Error> {
        self.query(values, |_, _| {})?;
        // SAFETY: `db` is live; the count is of the statement just run.
        Ok(unsafe { ffi::sqlite3_changes64(self.db.as_ptr()) }.max(0) as u64)
    }

    /// Like `run`, for a query: `each` is given every row's first column
    /// (an integer) and second (text; rows where it is NULL are skipped).
    pub fn query(
        &mut self,
        values: &[Option<&str>],
        mut each: impl FnMut(i64, &str),
    ) -> Result<(), sqlx::Error> {
        if values.len() != self.params {
            return Err(generic("wrong number of parameters"));
        }
        let stmt = self.stmt.as_ptr();
        let result = self.bind_and_step(values, &mut each);
        // SAFETY: `stmt` is live; after the reset and the clearing SQLite
        // holds no pointer into `values`.
        unsafe {
            ffi::sqlite3_reset(stmt);
            ffi::sqlite3_clear_bindings(stmt);
        }
        result
    }

    fn bind_and_step(
        &mut self,
        values: &[Option<&str>],
        each: &mut dyn FnMut(i64, &str),
    ) -> Result<(), sqlx::Error> {
        let stmt = self.stmt.as_ptr();
        for (i, v) in values.iter().enumerate() {
            let index = (i + 1) as c_int;
            // SAFETY: `stmt` is live and `index` within its parameters;
            // SQLITE_STATIC promises that the text outlives its use, which
            // `run` keeps by resetting and clearing before it returns.
            let rc = unsafe {
                match v {
                    Some(s) => {
                        let n = c_int::try_from(s.len()).map_err(|_| generic("value too long"))?;
                        ffi::sqlite3_bind_text(
                            stmt,
                            index,
                            s.as_ptr().cast(),
                            n,
                            ffi::SQLITE_STATIC(),
                        )
                    }
                    None => ffi::sqlite3_bind_null(stmt, index),
                }
            };
            if rc != ffi::SQLITE_OK {
                return Err(last_error(self.db));
            }
        }
        loop {
            // SAFETY: `stmt` is live and bound.
            match unsafe { ffi::sqlite3_step(stmt) } {
                ffi::SQLITE_ROW => {}
                ffi::SQLITE_DONE => return Ok(()),
                _ => return Err(last_error(self.db)),
            }
            // SAFETY: a row is current; the text pointer is valid, for the
            // length SQLite gives, until the next step (it is copied out by
            // `each` if kept).
            let (i, text) = unsafe {
                let i = ffi::sqlite3_column_int64(stmt, 0);
                let p = ffi::sqlite3_column_text(stmt, 1);
                let n = ffi::sqlite3_column_bytes(stmt, 1).max(0) as usize;
                let text = (!p.is_null()).then(|| std::slice::from_raw_parts(p, n));
                (i, text)
            };
            if let Some(text) = text {
                each(i, &String::from_utf8_lossy(text));
            }
        }
    }
}

impl Drop for Statement<'_> {
    fn drop(&mut self) {
        // SAFETY: finalized once, here; the connection is still locked
        // (the statement borrows the `Conn`, which borrows the handle).
        unsafe {
            ffi::sqlite3_finalize(self.stmt.as_ptr());
        }
    }
}

/// SQLite's error on the connection, as sqlx reports one (the extended
/// code and the message), so that `error::is_busy` reads it the same way.
fn last_error(db: NonNull<ffi::sqlite3>) -> sqlx::Error {
    // SAFETY: `db` is a live connection; the message is copied before any
    // other call on it.
    let (code, message) = unsafe {
        let code = ffi::sqlite3_extended_errcode(db.as_ptr());
        let msg = ffi::sqlite3_errmsg(db.as_ptr());
        let message = if msg.is_null() {
            format!("error {code}")
        } else {
            CStr::from_ptr(msg).to_string_lossy().into_owned()
        };
        (code, message)
    };
    sqlx::Error::Database(Box::new(RawError { code, message }))
}

fn generic(message: &str) -> sqlx::Error {
    sqlx::Error::Protocol(message.to_string())
}

/// An error SQLite returned through the C API.
#[derive(Debug)]
struct RawError {
    code: c_int,
    message: String,
}

impl std::fmt::Display for RawError {
    /// As sqlx's own SQLite errors read.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "(code: {}) {}", self.code, self.message)
    }
}

impl std::error::Error for RawError {}

impl sqlx::error::DatabaseError for RawError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(self.code.to_string().into())
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        match self.code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                sqlx::error::ErrorKind::UniqueViolation
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => sqlx::error::ErrorKind::ForeignKeyViolation,
            ffi::SQLITE_CONSTRAINT_NOTNULL => sqlx::error::ErrorKind::NotNullViolation,
            ffi::SQLITE_CONSTRAINT_CHECK => sqlx::error::ErrorKind::CheckViolation,
            _ => sqlx::error::ErrorKind::Other,
        }
    }
}
