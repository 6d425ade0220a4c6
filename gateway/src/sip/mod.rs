//! SIP: the message layer and the tools around it. Transport,
//! transaction and dialog layers come on top (see ARCHITECTURE.md).

pub mod dialog;
pub mod inspect;
pub mod msg;
pub mod transaction;
pub mod transport;
