//! The media plane: the SDP model and offer/answer ([`sdp`]), the RTP relay (next).

pub mod relay;
pub mod sdp;
