#!/usr/bin/env python3
"""The report of bench/media-load.sh (standard library only).

  media-analyze.py report RESULTS.jsonl MD    the Markdown report from every row
  media-analyze.py profile DIR SUT MODE       one {"profile": ...} line from the perf
                                              files and the profiled step's row of a
                                              relay's directory (PROFILE=1)

RESULTS.jsonl: a {"meta": ...} line, one line per (system, mode, rate)
written by rtpload (sim/src/bin/rtpload.rs), and with PROFILE=1 a
{"profile": ...} line per relay.

Definitions:
  - loss-free: lost + delayed < 0.1 % of the packets sent, where lost =
    not received at all and delayed = the share of the verified packets
    that arrived more than 50 ms after they were sent (a jitter buffer has
    given up on them: the relay's queues grew); no packet failing
    verification; and the generator sent >= 97 % of the rate asked;
  - CPU per packet: CPU seconds of the system under test (utime+stime of
    all its threads, /proc/PID/stat) over the step / packets relayed;
  - packets per CPU-second: its inverse, the rate one core would relay
    if CPU were the only limit.
"""

import json
import os
import sys

LOSS_FREE_PCT = 0.1
TARGET_PPS = 300_000
TARGET_RATIO = 1.5
PEER = "siphon-rtp (a Rust RTP relay) is quoted at 7-9 µs of CPU per packet"


def lost_pct(r):
    """Lost or delayed by more than 50 ms (as a listener hears it)."""
    delayed = r.get("delayed_pct")
    return r["loss_pct"] + (100.0 if delayed is None else delayed)


def loss_free(r):
    return lost_pct(r) < LOSS_FREE_PCT and r["bad"] == 0 and r["achieved_send_pps"] >= 0.97 * r["rate"]


def fms(x):
    return "n/a" if x is None else (f"{x:.2f}" if x < 10 else f"{x:,.0f}")


def fint(x):
    return "n/a" if x is None else f"{x:,.0f}"


def fus(x):
    return "n/a" if x is None else f"{x:.2f} µs"


def fpct(x, digits=1):
    return "n/a" if x is None else f"{x:.{digits}f} %"


def label(sut, mode):
    return {"bridgehead": "Bridgehead", "rtpengine": "rtpengine"}.get(sut, sut) + " " + mode.replace("->", " -> ").upper()


# --- profiles (PROFILE=1) -----------------------------------------------------

TRACING = ("perf_", "__traceiter_", "syscall_trace", "trace_")
# Kernel entry points of the system calls (inclusive cost from the call chains).
# A tuple per system call: its frame names (a tail call may hide the
# outer one: `__sys_recvmmsg` jumps to `do_recvmmsg`), the largest counts.
# Sends and receives issued through io_uring (Bridgehead's `[media] io =
# "uring"`) count by their io_uring handlers, inside `io_uring_enter`.
SEND = (("__sys_sendto",), ("__sys_sendmsg",), ("__sys_sendmmsg",), ("io_send",), ("io_sendmsg",))
RECV = (("__sys_recvfrom",), ("__sys_recvmsg",), ("__sys_recvmmsg", "do_recvmmsg"), ("io_recvmsg",), ("io_recv",))
POLL = (("do_epoll_wait",), ("do_epoll_pwait",))
# The relay core (sans-IO) and the SRTP crypto crates it calls.
CORE = ("gateway::media::", "gateway::b2bua::Gateway::handle_media", "aes::", "sha1", "hmac", "ctr::", "cipher::",
        "digest::", "subtle::")


def perf_lines(path, children):
    """(pct, dso, sym) rows of a `perf report --stdio -g none --sort dso,sym` file."""
    rows = []
    try:
        f = open(path)
    except OSError:
        return rows
    with f:
        for line in f:
            x = line.split()
            if len(x) < 4 or not x[0].endswith("%"):
                continue
            try:
                pct = float(x[0][:-1])
            except ValueError:
                continue
            rest = x[2:] if children else x[1:]
            if len(rest) < 3:
                continue
            dso, sym = rest[0], " ".join(rest[2:])
            rows.append((pct, dso, sym))
    return rows


def cmd_profile(args):
    d, sut, mode = args
    self_rows = perf_lines(os.path.join(d, "perf-self.txt"), False)
    child_rows = perf_lines(os.path.join(d, "perf-children.txt"), True)
    incl = {}
    for pct, dso, sym in child_rows:
        incl[sym] = max(incl.get(sym, 0.0), pct)
    kernel = sum(p for p, dso, _ in self_rows if dso.startswith("[kernel"))
    # perf's own tracepoints (perf stat counting every system call).
    tracing = sum(
        p for p, dso, sym in self_rows if dso.startswith("[kernel") and sym.startswith(TRACING)
    )
    core = sum(p for p, dso, sym in self_rows if dso == "gateway" and any(sym.startswith(c) or c in sym for c in CORE))
    cat = {
        "kernel_send": sum(max(incl.get(s, 0.0) for s in names) for names in SEND),
        "kernel_recv": sum(max(incl.get(s, 0.0) for s in names) for names in RECV),
        "kernel_poll": sum(max(incl.get(s, 0.0) for s in names) for names in POLL),
        "kernel_total": kernel,
        "tracing": tracing,
        "relay_core": core,
        "user_total": sum(p for p, dso, _ in self_rows if not dso.startswith("[kernel")),
    }
    cat["kernel_other"] = max(0.0, kernel - tracing - cat["kernel_send"] - cat["kernel_recv"] - cat["kernel_poll"])
    cat["user_other"] = max(0.0, cat["user_total"] - core)
    top = [
        {"pct": p, "dso": dso, "sym": sym[:110]}
        for p, dso, sym in sorted(self_rows, key=lambda r: -r[0])[:25]
    ]
    sys_counts = {}
    try:
        with open(os.path.join(d, "perf-stat.csv")) as f:
            for line in f:
                if line.startswith("#") or not line.strip():
                    continue
                x = line.strip().split(",")
                if len(x) >= 3 and x[0].replace(".", "").isdigit():
                    sys_counts[x[2].split(":")[-1].replace("sys_enter_", "")] = float(x[0])
    except OSError:
        pass
    # The profiled step's row: the relay's CPU and the packets relayed.
    totals, rate = None, None
    try:
        with open(os.path.join(d, "profile-row.jsonl")) as f:
            for line in f:
                r = json.loads(line)
                totals, rate = r, r.get("rate")
    except (OSError, ValueError):
        pass
    print(json.dumps({"profile": {"sut": sut, "mode": mode, "rate": rate, "totals": totals, "samples_pct": cat,
                                   "syscalls": sys_counts, "top": top}}))


def profile_section(profiles):
    out = ["## Where the time goes (PROFILE=1)\n"]
    rate = next((p["rate"] for p in profiles if p.get("rate")), None)
    out.append(
        f"Each relay run at {fint(rate)} packets/s before the measured steps (not in the table above), under "
        "`perf record -F 499 -g` (kernel call chains give each system call's inclusive cost, the loopback delivery "
        "to the receiver included) and `perf stat` counting its system calls. perf's tracepoints slow every system "
        "call: their cost is the *perf tracing* column, and the CPU per packet of these runs is above the "
        "measured table's. µs per packet = share of samples x the relay's CPU per packet in that step. "
        "*Relay core* = Bridgehead's sans-IO code (`gateway::media`, `Gateway::handle_media`, "
        "the SRTP crypto crates); *userspace other* = everything else in user space (for Bridgehead: the tokio "
        "shell: the driver loop and the media batch layer; for rtpengine: all of it).\n"
    )
    out.append(
        "| system | mode | CPU/packet (profiled) | send syscall | receive syscalls | epoll_wait | other kernel "
        "| perf tracing | relay core | userspace other | syscalls per packet (recv / send / epoll / io_uring) "
        "| context switches per 1k packets |"
    )
    out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for p in profiles:
        t = p.get("totals")
        if not t or not t.get("received") or not t.get("sut_cpu_s"):
            continue
        us = t["sut_cpu_s"] * 1e6 / t["received"]
        c = p["samples_pct"]
        part = lambda k: f"{c[k] * us / 100:.2f} µs ({c[k]:.0f} %)"
        sc = p["syscalls"]
        n = t["received"]
        recv = sum(sc.get(k, 0) for k in ("recvfrom", "recvmsg", "recvmmsg")) / n
        send = sum(sc.get(k, 0) for k in ("sendto", "sendmsg", "sendmmsg")) / n
        poll = sum(sc.get(k, 0) for k in ("epoll_wait", "epoll_pwait")) / n
        uring = sc.get("io_uring_enter", 0) / n
        total = sc.get("sys_enter", 0) / n
        cs = sc.get("context-switches", 0) * 1000 / n
        out.append(
            f"| {p['sut']} | {p['mode']} | {us:.2f} µs | {part('kernel_send')} | {part('kernel_recv')} | "
            f"{part('kernel_poll')} | {part('kernel_other')} | {part('tracing')} | {part('relay_core')} | "
            f"{part('user_other')} | "
            f"{total:.2f} ({recv:.2f} / {send:.2f} / {poll:.3f} / {uring:.3f}) | {cs:.1f} |"
        )
    out.append("")
    for p in profiles:
        out.append(f"Top symbols by self time, {p['sut']} {p['mode']}:\n")
        out.append("```")
        for r in p["top"]:
            out.append(f"{r['pct']:6.2f}%  {r['dso']:<18} {r['sym']}")
        out.append("```\n")
    return out



def cmd_report(args):
    results, md = args[0], args[1]
    meta, rows, profiles = {}, [], []
    with open(results) as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            if "meta" in r:
                meta = r["meta"]
            elif "profile" in r:
                profiles.append(r["profile"])
            else:
                rows.append(r)
    configs = []
    for r in rows:
        k = (r["sut"], r["mode"])
        if k not in configs:
            configs.append(k)
    modes = []
    for _, m in configs:
        if m not in modes:
            modes.append(m)

    out = []
    out.append("# Media relay: Bridgehead vs rtpengine (RTP packets/s per core, loopback)\n")
    out.append(f"Generated by `{meta.get('command', 'bash bench/media-load.sh')}` on {meta.get('date', '?')}.\n")
    out.append(
        f"Machine: {meta.get('cpu', '?')}, {meta.get('cores', '?')} cores, Linux {meta.get('kernel', '?')} "
        f"(a VM; shared with other engineers' builds and tests). Gateway `{meta.get('gateway_rev', '?')}`, "
        f"RUST_LOG={meta.get('gateway_log', 'warn')}; {meta.get('rtpengine', 'rtpengine ?')} (Debian "
        f"rtpengine-daemon), userspace only (`--table=-1`, no kernel module), worker threads: "
        f"{meta.get('rtpengine_threads', 'default')}, `--log-level=4`.\n"
    )
    calls = meta.get("calls", "?")
    out.append(
        f"Load: `rtpload` (sim/src/bin/rtpload.rs) sets up {calls} calls through the system under test, then sends "
        "172-byte G.711 RTP (12-byte header, 160 bytes of payload), one way, operator side -> Teams side, round-robin "
        "over the calls (each its own SSRC and sequence), in bursts of at least 32 packets with `sendmmsg`, "
        f"{meta.get('duration_s', '?')} s per rate; per-call rate = rate / {calls}. It reads the Teams side with "
        "`recvmmsg` and checks every packet of 16 calls in full (length, payload; with SRTP, decrypted with the key "
        "the relay offered, AES_CM_128_HMAC_SHA1_80). Bridgehead: calls set up over SIP/UDP (INVITE with SDP, 200 "
        "with SDP, ACK; BYE at the end), `[media]` anchoring on 127.0.0.1; RTP -> SRTP: `[media.teams] srtp = true` "
        "(SDES). rtpengine: ng `offer` (ICE remove, DTLS off; RTP -> SRTP: `transport-protocol` RTP/SAVP, SDES "
        "AES_CM_128_HMAC_SHA1_80 alone, every other suite `no-`, as the gateway offers) and `answer` with the same SDP, `delete` at the end. "
        f"The four relays (two systems, two modes) are up at once, pinned to CPU {meta.get('sut_cpu', '?')}, each "
        f"with its own generator on CPU {meta.get('gen_cpu', '?')} (`taskset`); the rates are interleaved (each rate on "
        "each relay in turn, one relay loaded at a time) so that drifts of the shared machine fall on all alike.\n"
    )
    out.append(
        "Columns: *sent/s* = what the generator achieved; *relayed/s* = received at the Teams side; *loss* = "
        "(sent - received) / sent after a drain; *> 50 ms* = share of the verified packets delivered more than "
        "50 ms after they were sent; *late* = received only after the load stopped (still queued in the relay "
        "then); *p50/p99 delay* = one-way delay generator -> relay -> sink of the verified packets (send time in "
        "the payload; both ends on the generator's clock; includes the bursts the generator sends); *relay CPU* = utime+stime of the system under test (all threads) "
        "over the step, as a share of one core; *CPU/packet* = that CPU time / packets relayed; *packets per CPU-s* "
        "= its inverse; *core busy* = the relay's core, user+system+irq+softirq (/proc/stat), *softirq* the "
        "interrupt part of it (with IRQ time accounting the kernel's loopback delivery of the packets the relay "
        "sends is charged here, not to the process); *gen* = the generator's CPU (its core's ceiling caps the "
        "rates it can offer); *drops* = datagrams the kernel dropped on the relay's sockets / the sink's "
        "(receive buffer full); *other* = user+system time on the relay's / generator's core by other processes, "
        "*steal* = time the hypervisor gave those cores to other guests "
        f"(a rate with more than 10 % of either was run once more and the less disturbed run kept: *rep*). Loss-free = "
        f"loss + delayed > 50 ms < {LOSS_FREE_PCT} % (a packet that late is lost to the listener), every verified "
        "packet good, >= 97 % of the rate offered. A relay not loss-free at two rates in a row is not tried at "
        "the higher ones (past its capacity it only queues or sheds more).\n"
    )
    out.append(
        "| system | mode | rate asked | sent/s | relayed/s | loss | > 50 ms | late | p50 / p99 delay | relay CPU | CPU/packet "
        "| packets per CPU-s | core busy (softirq) | gen CPU | drops relay / sink | verified / bad | other load "
        "| steal | loss-free |"
    )
    out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        out.append(
            f"| {r['sut']} | {r['mode']} | {fint(r['rate'])} | {fint(r['achieved_send_pps'])} | "
            f"{fint(r['relayed_pps'])} | {r['loss_pct']:.3f} % | {fpct(r.get('delayed_pct'), 3)} | {r['late_pct']:.3f} % | "
            f"{fms(r['latency_p50_ms'])} / {fms(r['latency_p99_ms'])} ms | {fpct(r['sut_cpu_pct'], 0)} | "
            f"{fus(r['us_per_packet'])} | {fint(r['packets_per_cpu_s'])} | "
            f"{fpct(r['sut_core_busy_pct'], 0)} ({fpct(r['sut_core_irq_pct'], 0)}) | {fpct(r['gen_cpu_pct'], 0)} | "
            f"{r['sut_socket_drops']:,} / {r['sink_socket_drops']:,} | {r['verified']:,} / {r['bad']:,} | "
            f"{fpct(r['sut_core_other_pct'], 0)} / {fpct(r['gen_core_other_pct'], 0)}{' rep' if r.get('repeated') else ''} | "
            f"{fpct(r.get('sut_core_steal_pct'), 0)} / {fpct(r.get('gen_core_steal_pct'), 0)} | "
            f"{'yes' if loss_free(r) else '**no**'} |"
        )
    out.append("")

    # --- per configuration --------------------------------------------------
    best = {}
    for k in configs:
        ok = [r for r in rows if (r["sut"], r["mode"]) == k and loss_free(r)]
        best[k] = max(ok, key=lambda r: r["rate"]) if ok else None
    gen_limited = [
        r for r in rows if r["achieved_send_pps"] < 0.97 * r["rate"] and (r.get("gen_cpu_pct") or 0) >= 90
    ]
    out.append("## Summary\n")
    out.append(
        "| system | mode | highest loss-free rate | CPU/packet there | packets per CPU-s there | relay CPU there "
        "| first rate with loss |"
    )
    out.append("|---|---|---:|---:|---:|---:|---|")
    for k in configs:
        b = best[k]
        lossy = [r for r in rows if (r["sut"], r["mode"]) == k and not loss_free(r)]
        first = min(lossy, key=lambda r: r["rate"]) if lossy else None
        fl = "none" if first is None else (
            f"{fint(first['rate'])}: {first['loss_pct']:.2f} % lost, {fpct(first.get('delayed_pct'), 2)} delayed > 50 ms, "
            f"{fint(first['relayed_pps'])} relayed/s, "
            f"relay CPU {fpct(first['sut_cpu_pct'], 0)}"
            + (", generator-bound" if first in gen_limited else "")
        )
        if b:
            out.append(
                f"| {k[0]} | {k[1]} | **{fint(b['rate'])}** | {fus(b['us_per_packet'])} | "
                f"{fint(b['packets_per_cpu_s'])} | {fpct(b['sut_cpu_pct'], 0)} | {fl} |"
            )
        else:
            out.append(f"| {k[0]} | {k[1]} | none | | | | {fl} |")
    out.append("")

    # --- ratios -------------------------------------------------------------
    out.append("## Bridgehead / rtpengine, same run\n")
    for m in modes:
        bh, re_ = best.get(("bridgehead", m)), best.get(("rtpengine", m))
        if not bh or not re_:
            out.append(f"- {m}: not computed (a system had no loss-free rate)")
            continue
        ratio_rate = bh["rate"] / re_["rate"]
        ratio_eff = bh["packets_per_cpu_s"] / re_["packets_per_cpu_s"]
        out.append(
            f"- **{m}**: highest loss-free rate {fint(bh['rate'])} / {fint(re_['rate'])} = **{ratio_rate:.2f}x**; "
            f"packets per CPU-second there {fint(bh['packets_per_cpu_s'])} / {fint(re_['packets_per_cpu_s'])} = "
            f"**{ratio_eff:.2f}x** (CPU per packet {fus(bh['us_per_packet'])} vs {fus(re_['us_per_packet'])})"
        )
        common = sorted(
            set(r["rate"] for r in rows if (r["sut"], r["mode"]) == ("bridgehead", m) and loss_free(r))
            & set(r["rate"] for r in rows if (r["sut"], r["mode"]) == ("rtpengine", m) and loss_free(r))
        )
        ratios = []
        for rate in common:
            a = next(r for r in rows if (r["sut"], r["mode"], r["rate"]) == ("bridgehead", m, rate))
            b = next(r for r in rows if (r["sut"], r["mode"], r["rate"]) == ("rtpengine", m, rate))
            if a["packets_per_cpu_s"] and b["packets_per_cpu_s"]:
                ratios.append(a["packets_per_cpu_s"] / b["packets_per_cpu_s"])
                out.append(
                    f"  - at {fint(rate)} packets/s (both loss-free): CPU per packet {fus(a['us_per_packet'])} vs "
                    f"{fus(b['us_per_packet'])}: **{a['packets_per_cpu_s'] / b['packets_per_cpu_s']:.2f}x** packets "
                    "per CPU-second"
                )
        if ratios:
            gm = 1.0
            for x in ratios:
                gm *= x
            gm **= 1 / len(ratios)
            out.append(
                f"  - packets per CPU-second at the same load, geometric mean over those {len(ratios)} rates: "
                f"**{gm:.2f}x**"
            )
        top = max(r["rate"] for r in rows)
        if bh["rate"] == top or re_["rate"] == top:
            out.append(
                f"  - a system was loss-free at the highest rate tried ({fint(top)}): its rate ratio is a bound, "
                "not a measurement"
            )
    out.append("")
    out.append("Targets (issue 4): relay >= 300,000 packets/s per core and >= 1.5x rtpengine's userspace figure.\n")
    for m in modes:
        bh, re_ = best.get(("bridgehead", m)), best.get(("rtpengine", m))
        if not bh:
            continue
        per_core = bh["packets_per_cpu_s"] or 0
        line = (
            f"- {m}: loss-free on one core up to {fint(bh['rate'])} packets/s; {fint(per_core)} packets per "
            f"CPU-second: {'**met**' if bh['rate'] >= TARGET_PPS else '**not met**'} "
            f"({bh['rate'] / TARGET_PPS:.2f}x of 300k)"
        )
        if re_:
            ratio = bh["rate"] / re_["rate"]
            line += (
                f"; vs rtpengine {ratio:.2f}x (rate), {per_core / re_['packets_per_cpu_s']:.2f}x (per CPU-s): "
                f"{'**met**' if ratio >= TARGET_RATIO else '**not met**'}"
            )
        out.append(line)
    out.append(f"\nPeer figure: {PEER}; not measured here.\n")
    if gen_limited:
        out.append(
            "Generator-bound rates (the generator's core saturated before it could offer the rate; loss and "
            "rates there say nothing about the relay): "
            + ", ".join(f"{r['sut']} {r['mode']} {fint(r['rate'])}" for r in gen_limited)
            + ".\n"
        )
    if profiles:
        out.extend(profile_section(profiles))
    text = "\n".join(out) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(md)), exist_ok=True)
    with open(md, "w") as f:
        f.write(text)
    print(text)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "report":
        return cmd_report(sys.argv[2:]) or 0
    if len(sys.argv) == 5 and sys.argv[1] == "profile":
        return cmd_profile(sys.argv[2:]) or 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
