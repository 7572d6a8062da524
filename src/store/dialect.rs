//! What differs between SQLite and PostgreSQL inside statements both run:
//! a statement is written once, and asks its [`Dialect`] for the piece
//! that differs (`db!(&self.pool, p, d => ...)` gives `d`).
//!
//! - a JSON array parameter as rows: [`Dialect::text_list`],
//!   [`Dialect::id_list`], [`Dialect::in_ids`], [`Dialect::elements`];
//! - row locks: [`Dialect::for_update`];
//! - byte-order comparison: [`Dialect::bytewise`];
//! - functions spelt differently: [`Dialect::domain_of`],
//!   [`Dialect::int_sum`];
//! - catalog queries: [`Dialect::linked_tables`].
//!
//! A statement that is one backend's own (the SQLite import's fast path,
//! PostgreSQL's lease SQL) lives in `store/sqlite/` or `store/postgres/`,
//! and [`Dialect::either`] chooses between the two texts.

/// Which database a store speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a database URL names.
    pub fn of_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The SQL dialect of a store's backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dialect(pub Backend);

impl Dialect {
    pub(crate) const SQLITE: Dialect = Dialect(Backend::Sqlite);
    pub(crate) const POSTGRES: Dialect = Dialect(Backend::Postgres);

    pub(crate) fn is_postgres(self) -> bool {
        self.0 == Backend::Postgres
    }

    /// The statement of this backend, for statements that differ in more
    /// than the pieces below (each backend's own SQL, kept in
    /// `store/sqlite/` and `store/postgres/`).
    pub(crate) fn either(self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self.0 {
            Backend::Sqlite => sqlite,
            Backend::Postgres => postgres,
        }
    }

    /// A subquery of the text elements of the JSON array `json` (a
    /// parameter or a column): `x IN ({d.text_list("$1")})`.
    pub(crate) fn text_list(self, json: &str) -> String {
        match self.0 {
            Backend::Sqlite => format!("SELECT value FROM json_each({json})"),
            Backend::Postgres => format!("SELECT jsonb_array_elements_text({json})"),
        }
    }

    /// A subquery of the integer elements of the JSON array `json`:
    /// `id IN ({d.id_list("$1")})`.
    pub(crate) fn id_list(self, json: &str) -> String {
        match self.0 {
            Backend::Sqlite => format!("SELECT value FROM json_each({json})"),
            Backend::Postgres => format!("SELECT jsonb_array_elements_text({json})::bigint"),
        }
    }

    /// `id {d.in_ids("$1")}`: membership of an integer key in the JSON
    /// array `json`, found through the key's index whatever the planner's
    /// statistics say (PostgreSQL: a new table has none, and a semi-join
    /// scanned it).
    pub(crate) fn in_ids(self, json: &str) -> String {
        match self.0 {
            Backend::Sqlite => format!("IN (SELECT value FROM json_each({json}))"),
            Backend::Postgres => {
                format!("= ANY(ARRAY(SELECT jsonb_array_elements_text({json})::bigint))")
            }
        }
    }

    /// A `FROM` item of the text elements of the JSON array `json`, named
    /// `alias`, with one column `value`: `FROM {d.elements("$2", "w")}`,
    /// then `w.value`.
    pub(crate) fn elements(self, json: &str, alias: &str) -> String {
        match self.0 {
            Backend::Sqlite => format!("json_each({json}) {alias}"),
            Backend::Postgres => format!("jsonb_array_elements_text({json}) {alias}(value)"),
        }
    }

    /// Lock the rows a `SELECT` reads until the commit (SQLite: a write
    /// transaction holds the whole database already).
    pub(crate) fn for_update(self) -> &'static str {
        match self.0 {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// `expr` compared in byte order (SQLite's default; on PostgreSQL
    /// whatever the database's collation), so a range is a prefix.
    pub(crate) fn bytewise(self, expr: &str) -> String {
        match self.0 {
            Backend::Sqlite => expr.to_string(),
            Backend::Postgres => format!("{expr} COLLATE \"C\""),
        }
    }

    /// The lowercase domain of the address in `email`.
    pub(crate) fn domain_of(self, email: &str) -> String {
        match self.0 {
            Backend::Sqlite => format!("lower(substr({email}, instr({email}, '@') + 1))"),
            Backend::Postgres => format!("lower(split_part({email}, '@', 2))"),
        }
    }

    /// The day of the timestamp column `col` as `YYYY-MM-DD` (UTC).
    pub(crate) fn utc_day(self, col: &str) -> String {
        match self.0 {
            Backend::Sqlite => format!("substr({col}, 1, 10)"),
            Backend::Postgres => format!("to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"),
        }
    }

    /// The minute of the timestamp column `col` as `YYYY-MM-DDTHH:MM` (UTC).
    pub(crate) fn utc_minute(self, col: &str) -> String {
        match self.0 {
            Backend::Sqlite => format!("substr({col}, 1, 16)"),
            Backend::Postgres => {
                format!("to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI')")
            }
        }
    }

    /// `SUM(expr)` as a 64-bit integer (PostgreSQL sums bigints into a
    /// numeric).
    pub(crate) fn int_sum(self, expr: &str) -> String {
        match self.0 {
            Backend::Sqlite => format!("SUM({expr})"),
            Backend::Postgres => format!("SUM({expr})::bigint"),
        }
    }

    /// The tables with a `subscriber_id` column other than deliveries and
    /// subscribers, from the schema's catalog, by name.
    pub(crate) fn linked_tables(self) -> &'static str {
        match self.0 {
            Backend::Sqlite => {
                "SELECT m.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
                 WHERE m.type = 'table' AND p.name = 'subscriber_id'
                   AND m.name NOT IN ('deliveries', 'subscribers') ORDER BY m.name"
            }
            Backend::Postgres => {
                "SELECT table_name::text FROM information_schema.columns
                 WHERE table_schema = current_schema() AND column_name = 'subscriber_id'
                   AND table_name NOT IN ('deliveries', 'subscribers') ORDER BY table_name"
            }
        }
    }
}
