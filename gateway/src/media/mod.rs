//! The media plane: the SDP model and offer/answer ([`sdp`]), the RTP relay (next).

pub mod codec;
pub mod g711;
pub mod goertzel;
pub mod negotiate;
pub mod noise;
pub mod relay;
pub mod rtcp;
pub mod sdp;
pub mod sequencer;
pub mod srtp;
pub mod tone;
