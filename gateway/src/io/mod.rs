//! I/O shells: the only code that touches sockets, clocks and OS
//! randomness. They feed the sans-IO [`crate::b2bua::Gateway`] and carry
//! out what it asks for.

pub mod tokio_shell;
