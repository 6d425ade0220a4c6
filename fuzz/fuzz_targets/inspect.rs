//! The receive path's verdict (`inspect_default`) and the support tool's
//! JSON, with both framings.
#![no_main]

use bytes::Bytes;
use gateway::sip::inspect::inspect_default;
use gateway::sip::msg::Framing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);
    for framing in [Framing::Datagram, Framing::Stream] {
        let i = inspect_default(bytes.clone(), framing);
        let json = i.to_json();
        let _ = json.to_string();
        if i.valid {
            assert!(i.message.is_some() && i.error.is_none());
        }
        if let Some(m) = &i.message {
            gateway_fuzz::touch(m);
        }
    }
});
