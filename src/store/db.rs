//! The two backends behind one `Store`: SQLite (the embedded default) and
//! PostgreSQL (several workers on several hosts sharing one queue).
//!
//! Store methods are written once: `db!` runs the same body against the
//! concrete pool of either backend (it is type-checked twice, once per
//! driver), and most SQL is the same text on both (`$1` placeholders work
//! on SQLite too). Where the dialects differ, the body asks the
//! [`Dialect`](super::dialect::Dialect) `db!` hands it. Two column types differ in storage, and a newtype hides that:
//! [`Ts`] is fixed-width RFC 3339 text on SQLite (it sorts) and
//! `timestamptz` on PostgreSQL; [`JsonText`] is text on SQLite and `jsonb`
//! on PostgreSQL.

use chrono::{DateTime, Utc};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteArgumentsBuffer, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, PgPool, Postgres, Sqlite, SqlitePool, Type};

pub use super::dialect::Backend;

#[derive(Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// An open transaction on either backend: `Tx::begin(&store.pool)`, then
/// `db_tx!(&mut tx, t, pg => ... .execute(&mut **t) ...)`.
pub(crate) enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

/// SQLite: a write transaction starts with `BEGIN IMMEDIATE`, taking the
/// write lock first (waiting up to the busy timeout for it). A deferred
/// `BEGIN` that reads, then writes while another connection holds the lock
/// fails at once with "database is locked" (extended code 517: a read
/// transaction cannot be upgraded), whatever the busy timeout.
pub(crate) const BEGIN_WRITE_SQLITE: &str = "BEGIN IMMEDIATE";

/// `p.begin_write()`: a transaction that writes, on either concrete pool
/// (`BEGIN IMMEDIATE` on SQLite, a plain `BEGIN` on PostgreSQL). Read-only
/// transactions use `begin()` (deferred).
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, Self::Db>>;
}

impl BeginWrite for SqlitePool {
    type Db = Sqlite;
    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, Sqlite>> {
        self.begin_with(BEGIN_WRITE_SQLITE).await
    }
}

impl BeginWrite for PgPool {
    type Db = Postgres;
    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, Postgres>> {
        self.begin().await
    }
}

impl Tx {
    /// Begin a write transaction on `pool`'s backend (`BEGIN IMMEDIATE` on
    /// SQLite: see [`BeginWrite`]).
    pub(crate) async fn begin(pool: &Pool) -> sqlx::Result<Tx> {
        Ok(match pool {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin_write().await?),
            Pool::Postgres(p) => Tx::Postgres(p.begin_write().await?),
        })
    }

    /// Begin a transaction that only reads (deferred on SQLite: it takes
    /// no write lock and never waits for a writer in WAL mode).
    pub(crate) async fn begin_read(pool: &Pool) -> sqlx::Result<Tx> {
        Ok(match pool {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin().await?),
            Pool::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    pub(crate) async fn commit(self) -> sqlx::Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
    }

    pub(crate) async fn rollback(self) -> sqlx::Result<()> {
        match self {
            Tx::Sqlite(t) => t.rollback().await,
            Tx::Postgres(t) => t.rollback().await,
        }
    }
}

/// `db!(pool_expr, p, d => body)`: `body` with `p` the concrete pool (or
/// transaction, for a `Tx`) and `d` its [`Dialect`](super::dialect::Dialect).
macro_rules! db {
    ($pool:expr, $p:ident, $d:ident => $body:expr) => {
        match $pool {
            $crate::store::db::Pool::Sqlite($p) => {
                #[allow(unused_variables)]
                let $d = $crate::store::dialect::Dialect::SQLITE;
                $body
            }
            $crate::store::db::Pool::Postgres($p) => {
                #[allow(unused_variables)]
                let $d = $crate::store::dialect::Dialect::POSTGRES;
                $body
            }
        }
    };
}

/// `db_tx!(tx_expr, t, d => body)`: as `db!`, for a [`Tx`].
macro_rules! db_tx {
    ($tx:expr, $t:ident, $d:ident => $body:expr) => {
        match $tx {
            $crate::store::db::Tx::Sqlite($t) => {
                #[allow(unused_variables)]
                let $d = $crate::store::dialect::Dialect::SQLITE;
                $body
            }
            $crate::store::db::Tx::Postgres($t) => {
                #[allow(unused_variables)]
                let $d = $crate::store::dialect::Dialect::POSTGRES;
                $body
            }
        }
    };
}

pub(crate) use {db, db_tx};

/// `text_enum!(T)`: `T` stored as its text (`T::as_str`, read back with
/// `FromStr`) on both backends: a row field of type `T` decodes directly,
/// and a value the type does not know is a decoding error.
macro_rules! text_enum {
    ($t:ty) => {
        impl sqlx::Type<sqlx::Sqlite> for $t {
            fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
                <String as sqlx::Type<sqlx::Sqlite>>::type_info()
            }
            fn compatible(ty: &sqlx::sqlite::SqliteTypeInfo) -> bool {
                <String as sqlx::Type<sqlx::Sqlite>>::compatible(ty)
            }
        }
        impl sqlx::Type<sqlx::Postgres> for $t {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <String as sqlx::Type<sqlx::Postgres>>::type_info()
            }
            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <String as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }
        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $t
        where
            &'static str: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&'static str as sqlx::Encode<'q, DB>>::encode(self.as_str(), buf)
            }
        }
        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $t
        where
            &'r str: sqlx::Decode<'r, DB>,
        {
            fn decode(
                value: <DB as sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let s = <&'r str as sqlx::Decode<'r, DB>>::decode(value)?;
                <$t as std::str::FromStr>::from_str(s).map_err(Into::into)
            }
        }
    };
}

pub(crate) use text_enum;

/// A timestamp column: RFC 3339 text with six fractional digits and `Z`
/// on SQLite (so that text order is time order), `timestamptz` on
/// PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ts(pub DateTime<Utc>);

impl From<DateTime<Utc>> for Ts {
    fn from(t: DateTime<Utc>) -> Ts {
        Ts(t)
    }
}

impl From<Ts> for DateTime<Utc> {
    fn from(t: Ts) -> DateTime<Utc> {
        t.0
    }
}

impl Type<Sqlite> for Ts {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for Ts {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        <String as Encode<Sqlite>>::encode(super::ts(self.0), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Ts {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let s = <&str as Decode<Sqlite>>::decode(value)?;
        super::parse_ts(s)
            .map(Ts)
            .ok_or_else(|| format!("not a timestamp: {s:?}").into())
    }
}

impl Type<Postgres> for Ts {
    fn type_info() -> PgTypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        <DateTime<Utc> as Type<Postgres>>::compatible(ty)
    }
}

impl Encode<'_, Postgres> for Ts {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <DateTime<Utc> as Encode<Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Ts {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        <DateTime<Utc> as Decode<Postgres>>::decode(value).map(Ts)
    }
}

/// A JSON document kept as its text: a text column on SQLite, `jsonb` on
/// PostgreSQL (which normalises spacing and key order on the way in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonText(pub String);

impl Type<Sqlite> for JsonText {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for JsonText {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        <String as Encode<Sqlite>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Sqlite> for JsonText {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        <String as Decode<Sqlite>>::decode(value).map(JsonText)
    }
}

impl Type<Postgres> for JsonText {
    fn type_info() -> PgTypeInfo {
        <sqlx::types::JsonValue as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        <sqlx::types::JsonValue as Type<Postgres>>::compatible(ty)
    }
}

impl Encode<'_, Postgres> for JsonText {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        // jsonb's binary format: a version byte, then the text.
        buf.push(1);
        buf.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }
}

impl<'r> Decode<'r, Postgres> for JsonText {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        <sqlx::types::JsonValue as Decode<Postgres>>::decode(value).map(|v| JsonText(v.to_string()))
    }
}
