//! The receive path's verdict (`inspect_default`) and the support tool's
//! JSON, with both framings.
#![no_main]

use bytes::Bytes;
use gateway::sip::inspect::{inspect_default, Disposition};
use gateway::sip::msg::{Framing, Method};
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
        // The disposition follows from the verdict and the answer.
        let want = match (&i.response, i.valid) {
            (Some(_), _) => Disposition::Answer,
            (None, true) => Disposition::Process,
            (None, false) => Disposition::Drop,
        };
        assert_eq!(i.disposition, want);
        // Responses and ACKs are never answered.
        if let Some(m) = &i.message {
            if !m.is_request() || m.method() == Some(Method::Ack) {
                assert!(i.response.is_none());
            }
        }
        if let Some(m) = &i.message {
            gateway_fuzz::touch(m);
        }
    }
});
