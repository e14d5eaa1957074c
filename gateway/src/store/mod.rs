//! The state store: SQLite (and later PostgreSQL) behind one interface.
