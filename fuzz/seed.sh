#!/bin/sh
# Lay the seed corpora into fuzz/corpus/<target>/ (git-ignored) from the
# messages kept in the repository: the RFC 4475 torture tests, the bench
# fixtures and the sample messages of the integration tests. Idempotent.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
for t in parse_datagram inspect stream_framer; do
    mkdir -p "$here/corpus/$t"
done
n=0
for f in "$root"/scenarios/conformance/rfc4475/*.dat "$root"/gateway/benches/fixtures/*.sip \
    "$root"/gateway/tests/messages/*.sip; do
    [ -f "$f" ] || continue
    name=$(basename "$f")
    cp "$f" "$here/corpus/parse_datagram/$name"
    cp "$f" "$here/corpus/inspect/$name"
    # stream_framer: the first byte picks the split position; the stream is
    # a keep-alive, the message, a ping and the message again.
    { printf '\200\r\n'; cat "$f"; printf '\r\n\r\n'; cat "$f"; } > "$here/corpus/stream_framer/$name"
    n=$((n + 1))
done
echo "seeded $n messages into $here/corpus/{parse_datagram,inspect,stream_framer}"
