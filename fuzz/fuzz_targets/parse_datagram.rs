//! One UDP datagram: parse, full check, every typed accessor, the
//! unchanged print (byte-identical to `raw()`) and an edit round trip.
#![no_main]

use bytes::Bytes;
use gateway::sip::msg::{Framing, Limits, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);
    if let Ok(m) = Message::parse_datagram(bytes.clone()) {
        gateway_fuzz::touch(&m);
        gateway_fuzz::edit_round_trip(&m);
        // The message part of a datagram parses again to the same message.
        let again = Message::parse_datagram(m.bytes()).expect("raw() of a parsed datagram parses");
        assert_eq!(again.raw(), m.raw());
        assert_eq!(again.header_entries().len(), m.header_entries().len());
    }
    if let Ok(m) = Message::parse(bytes, Framing::Stream, &Limits::default()) {
        gateway_fuzz::touch(&m);
    }
});
