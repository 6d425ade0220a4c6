# Bridgehead's jobs. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Run every certification suite; writes reports/ (certification.md, .html, junit.xml).
certify seed="1":
    cargo run --quiet --release -p sim --bin certify -- --seed {{seed}} --scenarios scenarios --reports reports

# The whole test suite (unit, property, snapshot, conformance, CLI tests).
test:
    INSTA_UPDATE=no cargo test --workspace --all-targets

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
    # The production binary never links the simulator's network (turmoil).
    @if cargo tree -p gateway -e normal --prefix none | grep -q '^turmoil '; then echo "gateway links turmoil without the sim feature"; exit 1; fi

# Benchmarks: criterion (SIP parser, relay, SRTP, DSP, transcoding), then calls/s vs Kamailio under SIPp load (bench/load.sh, reports/bench-calls.md) and RTP packets/s vs rtpengine (bench/media-load.sh, reports/bench-media.md).
bench:
    cargo bench -p gateway --bench sip_msg
    cargo bench -p gateway --bench relay --bench srtp --bench dsp --bench transcode
    bash bench/load.sh
    bash bench/media-load.sh

# Parse one raw SIP message and print the gateway's verdict as JSON.
parse file="-" *flags="":
    cargo run --quiet -p gateway -- sip parse {{file}} {{flags}}

# Fuzz one target (parse_datagram, stream_framer, inspect, parse_sdp, srtp_unprotect, codec_decode) for `secs` seconds; see fuzz/README.md.
fuzz target="parse_datagram" secs="60":
    command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
    cd fuzz && ./seed.sh && RUSTC_BOOTSTRAP=1 cargo fuzz run {{target}} -- -max_total_time={{secs}} -dict=sip.dict -print_final_stats=1

# Fuzz every target in turn.
fuzz-all secs="60":
    for t in parse_datagram stream_framer inspect parse_sdp srtp_unprotect codec_decode relay_packet; do just fuzz $t {{secs}}; done
