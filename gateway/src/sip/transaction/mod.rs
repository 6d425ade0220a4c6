//! The RFC 3261 section 17 transaction layer, sans-IO: the four state
//! machines (INVITE and non-INVITE, client and server), with RFC 6026's
//! Accepted state for 2xx to INVITE, and timers A-M in one timer table.
//!
//! Contract (the caller's rule: after any `handle_*`/`send_*`, drain
//! [`Transactions::poll_transmit`] and [`Transactions::poll_event`], then
//! arm a wake-up at [`Transactions::poll_timeout`]):
//! - inputs carry the current [`Time`]; nothing here reads a clock;
//! - every retransmission, ACK for a non-2xx final and automatic 100
//!   Trying comes out of `poll_transmit`, addressed to the transaction's
//!   destination `D` (a transport address or connection handle);
//! - the transaction user (dialog/B2BUA layer) learns of new requests,
//!   responses, ACKs for 2xx, timeouts and terminations from `poll_event`;
//! - every transaction ends (Terminated event, removed from the table)
//!   after at most 64*T1 + T4 without input, so none can leak; the table
//!   holds at most `max_transactions` (a new request beyond it is
//!   answered `Overloaded`, for a stateless 503).
//!
//! 2xx retransmission by a UAS and ACK for 2xx by a UAC are the
//! transaction user's (RFC 3261 13.3.1.4, 13.2.2.4): they are end to end.

mod key;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;

pub use key::TxKey;

use crate::sip::msg::{HeaderName, Message, Method, ParseError};
use crate::time::Time;

/// Timer values (RFC 3261 table 4); all derived timers follow them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate (500 ms).
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses (4 s).
    pub t2: Duration,
    /// Maximum time a message remains in the network (5 s).
    pub t4: Duration,
    /// A server INVITE transaction sends 100 Trying when the TU has not
    /// answered within this time (200 ms, RFC 3261 17.2.1).
    pub trying_after: Duration,
    /// A server INVITE transaction whose TU sends no final response within
    /// this time answers 408 itself; a client INVITE transaction that has
    /// had a provisional but no final response for this long (reset by each
    /// provisional) times out with timer C (RFC 3261 16.6: > 3 min).
    pub invite_answer_within: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            trying_after: Duration::from_millis(200),
            invite_answer_within: Duration::from_secs(181),
        }
    }
}

impl TimerConfig {
    /// 64*T1: timers B, F, H, J (unreliable), L, M.
    pub fn t64(&self) -> Duration {
        self.t1 * 64
    }
}

/// A transaction's handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(pub u64);

/// The named timers of RFC 3261 (and RFC 6026's L and M).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    A,
    B,
    D,
    E,
    F,
    G,
    H,
    I,
    J,
    K,
    L,
    M,
    /// A client INVITE got provisionals but no final response in time
    /// (RFC 3261 16.6 timer C): the TU should CANCEL.
    C,
    /// Send 100 Trying if the TU has not answered an INVITE yet.
    Trying,
    /// The TU owes a final response and has not sent it in time: the
    /// transaction answers 408 (INVITE: `invite_answer_within`;
    /// non-INVITE: 64*T1, when the client has given up anyway).
    Tu,
}

/// Which machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    ClientInvite,
    ClientNonInvite,
    ServerInvite,
    ServerNonInvite,
}

/// States of the four machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Calling,
    Trying,
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
}

/// Bytes to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit<D> {
    pub tx: TxId,
    pub dest: D,
    pub data: Bytes,
}

/// What the transaction user learns.
#[derive(Debug, Clone)]
pub enum TxEvent<D> {
    /// A new server transaction: the TU must answer it with `send_response`.
    Request { tx: TxId, msg: Message, source: D },
    /// An ACK that matches no server transaction (the ACK for a 2xx), or
    /// one that arrived while the INVITE transaction was Accepted.
    Ack { msg: Message, source: D },
    /// A response for a client transaction (every 2xx while Accepted).
    Response { tx: TxId, msg: Message },
    /// A response that matches no client transaction (e.g. a 2xx
    /// retransmitted after the transaction ended): the dialog may ACK it.
    Stray { msg: Message },
    /// Timer B/F/C (no final response), H (no ACK for our final response) or
    /// Tu (the TU did not answer in time; a 408 was sent for it).
    Timeout { tx: TxId, timer: Timer },
    /// The transport could not deliver.
    TransportError { tx: TxId },
    /// The transaction is gone from the table.
    Terminated { tx: TxId },
}

/// Errors of the transaction API (the caller's mistakes or limits).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error("the transaction table is full ({0} transactions)")]
    Full(usize),
    #[error("a request needs a top Via with a branch and a CSeq: {0}")]
    Unroutable(ParseError),
    #[error("ACK is not sent through a client transaction")]
    AckIsNotATransaction,
    #[error("a transaction with this branch and method exists already")]
    Duplicate,
    #[error("no such transaction")]
    Unknown,
    #[error("status {status} cannot be sent in state {state:?}")]
    WrongState { status: u16, state: State },
    #[error("not a valid status code: {0}")]
    BadStatus(u16),
}

/// The outcome of a received request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    /// A new server transaction; a `Request` event was queued.
    New(TxId),
    /// A retransmission or an ACK absorbed by an existing transaction.
    Absorbed(TxId),
    /// An ACK for no transaction: an `Ack` event was queued.
    AckToTu,
    /// The table is full: answer 503 with Retry-After, statelessly.
    Overloaded,
    /// No Via/CSeq to match on: answer 400 statelessly (or drop).
    Unmatchable,
}

struct Tx<D> {
    kind: Kind,
    state: State,
    key: TxKey,
    dest: D,
    reliable: bool,
    /// Client: the request we sent. Server: the request we received.
    /// Dropped once the transaction only waits out its timers (Completed,
    /// Confirmed, Accepted but for a client INVITE, whose TU ACKs from it):
    /// a finished transaction lingers up to 64*T1 and should not hold it.
    request: Option<Box<Message>>,
    /// Client: request bytes to retransmit. Server: the last response sent.
    last: Option<Bytes>,
    /// Client INVITE: the ACK for a non-2xx final, resent on retransmissions.
    ack: Option<Bytes>,
    /// Current retransmission interval (A, E or G).
    interval: Duration,
    /// Armed timers, at most a few.
    timers: Vec<(Timer, Time)>,
}

/// The transaction table and its timer table.
pub struct Transactions<D> {
    cfg: TimerConfig,
    max: usize,
    next_id: u64,
    txs: BTreeMap<TxId, Tx<D>>,
    keys: HashMap<TxKey, TxId>,
    timers: BTreeSet<(Time, TxId, Timer)>,
    transmits: VecDeque<Transmit<D>>,
    events: VecDeque<TxEvent<D>>,
}

impl<D: Clone> Transactions<D> {
    pub fn new(cfg: TimerConfig, max_transactions: usize) -> Self {
        Transactions {
            cfg,
            max: max_transactions,
            next_id: 1,
            txs: BTreeMap::new(),
            // Sized up front (up to 256k keys) so that growing the table
            // does not stall the loop with a full rehash under load.
            keys: HashMap::with_capacity(max_transactions.min(262_144)),
            timers: BTreeSet::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Live transactions.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// State of a live transaction.
    pub fn state(&self, tx: TxId) -> Option<(Kind, State)> {
        self.txs.get(&tx).map(|t| (t.kind, t.state))
    }

    /// The request a transaction was created for.
    pub fn request(&self, tx: TxId) -> Option<&Message> {
        self.txs.get(&tx).and_then(|t| t.request.as_deref())
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit<D>> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<TxEvent<D>> {
        self.events.pop_front()
    }

    /// The next timer deadline.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.timers.first().map(|(t, _, _)| *t)
    }

    fn alloc_id(&mut self) -> TxId {
        let id = TxId(self.next_id);
        self.next_id += 1;
        id
    }

    fn arm(&mut self, id: TxId, timer: Timer, at: Time) {
        if let Some(tx) = self.txs.get_mut(&id) {
            if let Some(pos) = tx.timers.iter().position(|(t, _)| *t == timer) {
                let (_, old) = tx.timers.swap_remove(pos);
                self.timers.remove(&(old, id, timer));
            }
            tx.timers.push((timer, at));
            self.timers.insert((at, id, timer));
        }
    }

    fn disarm(&mut self, id: TxId, timer: Timer) {
        if let Some(tx) = self.txs.get_mut(&id) {
            if let Some(pos) = tx.timers.iter().position(|(t, _)| *t == timer) {
                let (_, at) = tx.timers.swap_remove(pos);
                self.timers.remove(&(at, id, timer));
            }
        }
    }

    fn terminate(&mut self, id: TxId) {
        if let Some(tx) = self.txs.remove(&id) {
            for (timer, at) in tx.timers {
                self.timers.remove(&(at, id, timer));
            }
            self.keys.remove(&tx.key);
            self.events.push_back(TxEvent::Terminated { tx: id });
        }
    }

    /// A wait that is zero on reliable transports (timers D, I, J, K).
    fn wait(&self, reliable: bool, unreliable: Duration) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            unreliable
        }
    }

    fn send(&mut self, id: TxId, data: Bytes) {
        if let Some(tx) = self.txs.get(&id) {
            self.transmits.push_back(Transmit { tx: id, dest: tx.dest.clone(), data });
        }
    }

    // ---------------------------------------------------------------- client

    /// Start a client transaction for `req` (already printed, with our Via
    /// and branch on top) toward `dest`.
    pub fn send_request(&mut self, now: Time, req: Message, dest: D, reliable: bool) -> Result<TxId, TxError> {
        let method = req.method().ok_or(TxError::Unknown)?;
        if method == Method::Ack {
            return Err(TxError::AckIsNotATransaction);
        }
        let key = key::client_key_of_request(&req).map_err(TxError::Unroutable)?;
        if self.keys.contains_key(&key) {
            return Err(TxError::Duplicate);
        }
        if self.txs.len() >= self.max {
            return Err(TxError::Full(self.max));
        }
        let id = self.alloc_id();
        let invite = method == Method::Invite;
        let data = req.bytes();
        let tx = Tx {
            kind: if invite { Kind::ClientInvite } else { Kind::ClientNonInvite },
            state: if invite { State::Calling } else { State::Trying },
            key: key.clone(),
            dest,
            reliable,
            request: Some(Box::new(req)),
            last: Some(data.clone()),
            ack: None,
            interval: self.cfg.t1,
            timers: Vec::new(),
        };
        self.txs.insert(id, tx);
        self.keys.insert(key, id);
        self.send(id, data);
        let t64 = self.cfg.t64();
        match (invite, reliable) {
            (true, false) => self.arm(id, Timer::A, now + self.cfg.t1),
            (false, false) => self.arm(id, Timer::E, now + self.cfg.t1),
            _ => {}
        }
        self.arm(id, if invite { Timer::B } else { Timer::F }, now + t64);
        Ok(id)
    }

    /// A response arrived. Returns the transaction it belongs to, if any.
    pub fn handle_response(&mut self, now: Time, msg: Message) -> Option<TxId> {
        let status = msg.status()?;
        let id = key::client_key_of_response(&msg).ok().and_then(|k| self.keys.get(&k).copied());
        let Some(id) = id else {
            self.events.push_back(TxEvent::Stray { msg });
            return None;
        };
        let tx = self.txs.get(&id)?;
        let (kind, state, reliable) = (tx.kind, tx.state, tx.reliable);
        match kind {
            Kind::ClientInvite => match (state, status) {
                (State::Calling | State::Proceeding, 100..=199) => {
                    self.set_state(id, State::Proceeding);
                    self.disarm(id, Timer::A);
                    self.disarm(id, Timer::B);
                    self.arm(id, Timer::C, now + self.cfg.invite_answer_within);
                    self.events.push_back(TxEvent::Response { tx: id, msg });
                }
                (State::Calling | State::Proceeding, 200..=299) => {
                    self.set_state(id, State::Accepted);
                    self.disarm(id, Timer::A);
                    self.disarm(id, Timer::B);
                    self.disarm(id, Timer::C);
                    self.arm(id, Timer::M, now + self.cfg.t64());
                    self.events.push_back(TxEvent::Response { tx: id, msg });
                }
                (State::Calling | State::Proceeding, _) => {
                    let ack =
                        self.txs.get(&id).and_then(|t| t.request.as_deref()).map(|r| Bytes::from(build_ack(r, &msg)));
                    self.set_state(id, State::Completed);
                    self.disarm(id, Timer::A);
                    self.disarm(id, Timer::B);
                    self.disarm(id, Timer::C);
                    if let Some(ack) = ack {
                        if let Some(t) = self.txs.get_mut(&id) {
                            t.ack = Some(ack.clone());
                        }
                        self.send(id, ack);
                    }
                    let d = self.wait(reliable, Duration::from_secs(32).max(self.cfg.t64()));
                    self.arm(id, Timer::D, now + d);
                    self.events.push_back(TxEvent::Response { tx: id, msg });
                }
                (State::Completed, 300..) => {
                    if let Some(ack) = self.txs.get(&id).and_then(|t| t.ack.clone()) {
                        self.send(id, ack);
                    }
                }
                (State::Accepted, 200..=299) => self.events.push_back(TxEvent::Response { tx: id, msg }),
                _ => {}
            },
            Kind::ClientNonInvite => match (state, status) {
                (State::Trying | State::Proceeding, 100..=199) => {
                    self.set_state(id, State::Proceeding);
                    self.events.push_back(TxEvent::Response { tx: id, msg });
                }
                (State::Trying | State::Proceeding, _) => {
                    self.set_state(id, State::Completed);
                    self.disarm(id, Timer::E);
                    self.disarm(id, Timer::F);
                    let k = self.wait(reliable, self.cfg.t4);
                    self.arm(id, Timer::K, now + k);
                    self.events.push_back(TxEvent::Response { tx: id, msg });
                }
                _ => {}
            },
            Kind::ServerInvite | Kind::ServerNonInvite => {}
        }
        Some(id)
    }

    fn set_state(&mut self, id: TxId, state: State) {
        if let Some(t) = self.txs.get_mut(&id) {
            t.state = state;
            let keep = matches!(state, State::Calling | State::Trying | State::Proceeding)
                || (state == State::Accepted && t.kind == Kind::ClientInvite);
            if !keep {
                t.request = None;
            }
        }
    }

    // ---------------------------------------------------------------- server

    /// A request arrived from `source`.
    pub fn handle_request(&mut self, now: Time, msg: Message, source: D, reliable: bool) -> RequestOutcome {
        let Some(method) = msg.method() else { return RequestOutcome::Unmatchable };
        let Ok(key) = key::server_key(&msg, None) else { return RequestOutcome::Unmatchable };
        if let Some(&id) = self.keys.get(&key) {
            return self.absorb(now, id, method, msg, source);
        }
        if method == Method::Ack {
            self.events.push_back(TxEvent::Ack { msg, source });
            return RequestOutcome::AckToTu;
        }
        if self.txs.len() >= self.max {
            return RequestOutcome::Overloaded;
        }
        let id = self.alloc_id();
        let invite = method == Method::Invite;
        let tx = Tx {
            kind: if invite { Kind::ServerInvite } else { Kind::ServerNonInvite },
            state: if invite { State::Proceeding } else { State::Trying },
            key: key.clone(),
            dest: source.clone(),
            reliable,
            request: Some(Box::new(msg.clone())),
            last: None,
            ack: None,
            interval: self.cfg.t1,
            timers: Vec::new(),
        };
        self.txs.insert(id, tx);
        self.keys.insert(key, id);
        if invite {
            self.arm(id, Timer::Trying, now + self.cfg.trying_after);
            self.arm(id, Timer::Tu, now + self.cfg.invite_answer_within);
        } else {
            self.arm(id, Timer::Tu, now + self.cfg.t64());
        }
        self.events.push_back(TxEvent::Request { tx: id, msg, source });
        RequestOutcome::New(id)
    }

    fn absorb(&mut self, now: Time, id: TxId, method: Method, msg: Message, source: D) -> RequestOutcome {
        let Some(tx) = self.txs.get(&id) else { return RequestOutcome::Unmatchable };
        let (kind, state, reliable, last) = (tx.kind, tx.state, tx.reliable, tx.last.clone());
        match (kind, method) {
            (Kind::ServerInvite, Method::Ack) => match state {
                State::Completed => {
                    self.set_state(id, State::Confirmed);
                    self.disarm(id, Timer::G);
                    self.disarm(id, Timer::H);
                    let i = self.wait(reliable, self.cfg.t4);
                    self.arm(id, Timer::I, now + i);
                }
                State::Accepted => self.events.push_back(TxEvent::Ack { msg, source }),
                _ => {}
            },
            (Kind::ServerInvite, _) => {
                // A retransmitted INVITE: repeat the last provisional or final
                // (RFC 6026: absorbed silently once Accepted).
                if matches!(state, State::Proceeding | State::Completed) {
                    if let Some(last) = last {
                        self.send(id, last);
                    }
                }
            }
            (Kind::ServerNonInvite, _) => {
                if matches!(state, State::Proceeding | State::Completed) {
                    if let Some(last) = last {
                        self.send(id, last);
                    }
                }
            }
            _ => {}
        }
        RequestOutcome::Absorbed(id)
    }

    /// The INVITE server transaction a CANCEL refers to (RFC 3261 9.2).
    pub fn invite_for_cancel(&self, cancel: &Message) -> Option<TxId> {
        let key = key::server_key(cancel, Some("INVITE")).ok()?;
        self.keys.get(&key).copied().filter(|id| self.txs.get(id).is_some_and(|t| t.kind == Kind::ServerInvite))
    }

    /// Send a response through server transaction `tx`.
    pub fn send_response(&mut self, now: Time, tx: TxId, status: u16, data: Bytes) -> Result<(), TxError> {
        if !(100..=699).contains(&status) {
            return Err(TxError::BadStatus(status));
        }
        let t = self.txs.get_mut(&tx).ok_or(TxError::Unknown)?;
        let (kind, state, reliable) = (t.kind, t.state, t.reliable);
        let wrong = Err(TxError::WrongState { status, state });
        match (kind, state) {
            (Kind::ServerInvite, State::Proceeding) => {
                t.last = Some(data.clone());
                self.send(tx, data);
                self.disarm(tx, Timer::Trying);
                match status {
                    100..=199 => {}
                    200..=299 => {
                        self.disarm(tx, Timer::Tu);
                        self.set_state(tx, State::Accepted);
                        self.arm(tx, Timer::L, now + self.cfg.t64());
                    }
                    _ => {
                        self.disarm(tx, Timer::Tu);
                        self.set_state(tx, State::Completed);
                        if !reliable {
                            self.arm(tx, Timer::G, now + self.cfg.t1);
                        }
                        self.arm(tx, Timer::H, now + self.cfg.t64());
                    }
                }
                Ok(())
            }
            // RFC 6026: more 2xx (e.g. retransmitted by the TU) go out while Accepted.
            (Kind::ServerInvite, State::Accepted) if (200..=299).contains(&status) => {
                self.send(tx, data);
                Ok(())
            }
            (Kind::ServerNonInvite, State::Trying | State::Proceeding) => {
                t.last = Some(data.clone());
                self.send(tx, data);
                if status < 200 {
                    self.set_state(tx, State::Proceeding);
                } else {
                    self.disarm(tx, Timer::Tu);
                    self.set_state(tx, State::Completed);
                    let j = self.wait(reliable, self.cfg.t64());
                    self.arm(tx, Timer::J, now + j);
                }
                Ok(())
            }
            _ => wrong,
        }
    }

    /// Stop a client transaction that the TU gives up on (the next hop
    /// never answered: RFC 3261 16.8 treats it as a 408): no more
    /// retransmissions, no more events but `Terminated`.
    pub fn abandon(&mut self, tx: TxId) {
        if self.txs.get(&tx).is_some_and(|t| matches!(t.kind, Kind::ClientInvite | Kind::ClientNonInvite)) {
            self.terminate(tx);
        }
    }

    /// Whether a client transaction of ours has this branch and method
    /// (loop detection: our own request coming back).
    pub fn has_client(&self, branch: &str, method: &str) -> bool {
        self.keys.contains_key(&TxKey::Client { branch: branch.into(), method: method.into() })
    }

    /// Client transactions still waiting for a final response whose
    /// destination matches `pred`, in id order (for a transport failure
    /// toward that destination).
    pub fn pending_clients(&self, pred: impl Fn(&D) -> bool) -> Vec<TxId> {
        self.txs
            .iter()
            .filter(|(_, t)| {
                matches!(t.kind, Kind::ClientInvite | Kind::ClientNonInvite)
                    && matches!(t.state, State::Calling | State::Trying | State::Proceeding)
                    && pred(&t.dest)
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// The transport failed to deliver for `tx` (RFC 3261 17.1.4, 17.2.4).
    pub fn handle_transport_error(&mut self, tx: TxId) {
        if self.txs.contains_key(&tx) {
            self.events.push_back(TxEvent::TransportError { tx });
            self.terminate(tx);
        }
    }

    // ---------------------------------------------------------------- timers

    /// Fire every timer due at or before `now`.
    pub fn handle_timeout(&mut self, now: Time) {
        while let Some(&(at, id, timer)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.remove(&(at, id, timer));
            if let Some(t) = self.txs.get_mut(&id) {
                t.timers.retain(|(k, _)| *k != timer);
            }
            self.fire(at, id, timer);
        }
    }

    fn fire(&mut self, at: Time, id: TxId, timer: Timer) {
        let Some(tx) = self.txs.get_mut(&id) else { return };
        let (state, interval, t2) = (tx.state, tx.interval, self.cfg.t2);
        match timer {
            Timer::A if state == State::Calling => {
                tx.interval = interval * 2;
                let next = tx.interval;
                if let Some(last) = tx.last.clone() {
                    self.send(id, last);
                }
                self.arm(id, Timer::A, at + next);
            }
            Timer::E if matches!(state, State::Trying | State::Proceeding) => {
                tx.interval = if state == State::Trying { (interval * 2).min(t2) } else { t2 };
                let next = tx.interval;
                if let Some(last) = tx.last.clone() {
                    self.send(id, last);
                }
                self.arm(id, Timer::E, at + next);
            }
            Timer::G if state == State::Completed => {
                tx.interval = (interval * 2).min(t2);
                let next = tx.interval;
                if let Some(last) = tx.last.clone() {
                    self.send(id, last);
                }
                self.arm(id, Timer::G, at + next);
            }
            Timer::B | Timer::C | Timer::F | Timer::H => {
                self.events.push_back(TxEvent::Timeout { tx: id, timer });
                self.terminate(id);
            }
            Timer::D | Timer::I | Timer::J | Timer::K | Timer::L | Timer::M => self.terminate(id),
            Timer::Tu if matches!(state, State::Trying | State::Proceeding) => {
                let Some(req) = tx.request.as_deref() else { return };
                let tag = format!("bh-tx{}", id.0);
                let resp = crate::sip::msg::build::response(req, 408, "Request Timeout", Some(&tag), &[], None);
                self.events.push_back(TxEvent::Timeout { tx: id, timer });
                // Cannot fail: the state admits a final response.
                let _ = self.send_response(at, id, 408, Bytes::from(resp));
            }
            Timer::Trying if state == State::Proceeding && tx.last.is_none() => {
                let Some(req) = tx.request.as_deref() else { return };
                let trying = Bytes::from(crate::sip::msg::build::response(req, 100, "Trying", None, &[], None));
                tx.last = Some(trying.clone());
                self.send(id, trying);
            }
            _ => {}
        }
    }
}

/// The ACK for a non-2xx final response (RFC 3261 17.1.1.3): the INVITE's
/// Request-URI, top Via, Route set, From, Call-ID and CSeq number; the
/// response's To (with its tag).
fn build_ack(invite: &Message, resp: &Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    let line =
        |out: &mut Vec<u8>, name: &str, value: &str| crate::sip::msg::build::push_header(out, name, value.as_bytes());
    out.extend_from_slice(b"ACK ");
    out.extend_from_slice(invite.request_uri_str().unwrap_or("").as_bytes());
    out.extend_from_slice(b" SIP/2.0\r\n");
    if let Some((_, top, _)) = invite.list_values(HeaderName::Via).next() {
        line(&mut out, "Via", top);
    }
    line(&mut out, "Max-Forwards", "70");
    for h in invite.headers_named(HeaderName::Route) {
        line(&mut out, "Route", h.value);
    }
    for (name, src) in [(HeaderName::From, invite), (HeaderName::To, resp), (HeaderName::CallId, invite)] {
        if let Some(v) = src.header_value(name) {
            line(&mut out, name.canonical(), v);
        }
    }
    let seq = invite.cseq().map_or(0, |c| c.seq);
    line(&mut out, "CSeq", &format!("{seq} ACK"));
    line(&mut out, "Content-Length", "0");
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests;
