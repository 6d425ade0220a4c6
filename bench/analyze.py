#!/usr/bin/env python3
"""Helpers for bench/load.sh (standard library only).

  analyze.py ticks PID...              CPU clock ticks (utime+stime) of the PIDs and their children
  analyze.py tree PID...               the PIDs and all their descendants
  analyze.py wait-udp PORT SECS        wait until something listens on UDP 127.0.0.1:PORT
  analyze.py free-udp PORT...          exit 1 if one of the UDP ports is in use
  analyze.py timed OUT -- CMD...       run CMD, write its (and its children's) CPU seconds to OUT
  analyze.py monitor OUT PORTS PID...  every 0.5 s append a JSON line: drops per UDP port,
                                       CPU ticks and resident memory of the PIDs and their children
  analyze.py row KEY=VALUE...          one result row (JSON) from a run directory
  analyze.py report RESULTS.jsonl MD   the Markdown report from every row

Latency: two measures of the call-setup time, INVITE sent -> 200 OK
received at the caller (SIPp UAC):
  - SIPp's response-time distribution 1 (-trace_rtt): one sample per call,
    but SIPp's clock is the kernel's coarse monotonic clock, so the
    samples are multiples of one jiffy (4 ms here);
  - the wire: a loopback capture (tcpdump) of the UAC's INVITEs and 200s,
    matched by the Via branch of the transaction; microsecond timestamps,
    taken when the packet is sent (the UAC's own receive delay excluded).
Percentiles are nearest-rank over all samples of the run.
"""

import json
import os
import re
import resource
import struct
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- processes -------------------------------------------------------------


def children_of(pid):
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    out += [int(c) for c in f.read().split()]
            except OSError:
                pass
    except OSError:
        pass
    return out


def tree(pids):
    seen, todo = [], list(pids)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        todo += children_of(p)
    return seen


def ticks_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    except (OSError, IndexError, ValueError):
        return 0


def rss_kb(pids):
    """Resident memory of a process tree: anonymous pages of each process plus
    the shared memory (Kamailio's shm pool) once. From /proc/PID/status, which
    costs no page-table walk (smaps would hold the SUT's mmap lock)."""
    anon, shm = 0, 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                text = f.read()
        except OSError:
            continue
        a = re.search(r"^RssAnon:\s+(\d+) kB", text, re.M)
        s = re.search(r"^RssShmem:\s+(\d+) kB", text, re.M)
        anon += int(a.group(1)) if a else 0
        shm = max(shm, int(s.group(1)) if s else 0)
    return anon + shm


def cpu_times():
    """{cpu index: (user+nice+system, steal)} in clock ticks, from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            x = line.split()
            if x and x[0].startswith("cpu") and x[0] != "cpu":
                v = [int(n) for n in x[1:9]]
                out[x[0][3:]] = (v[0] + v[1] + v[2], v[7])
    return out


def udp_sockets():
    """{port: (rx_queue bytes, drops)} for UDP sockets bound on IPv4."""
    out = {}
    with open("/proc/net/udp") as f:
        for line in f.read().splitlines()[1:]:
            x = line.split()
            port = int(x[1].split(":")[1], 16)
            rxq = int(x[4].split(":")[1], 16)
            drops = int(x[-1])
            old = out.get(port, (0, 0))
            out[port] = (old[0] + rxq, old[1] + drops)
    return out


# --- capture and SIPp files --------------------------------------------------


def pcap_packets(path):
    with open(path, "rb") as f:
        gh = f.read(24)
        if len(gh) < 24:
            return
        magic = struct.unpack("<I", gh[:4])[0]
        nano = magic == 0xA1B23C4D
        link = struct.unpack("<I", gh[20:24])[0]
        base = {1: 14, 113: 16, 0: 4, 276: 20}.get(link, 0)
        while True:
            h = f.read(16)
            if len(h) < 16:
                return
            sec, frac, incl, _ = struct.unpack("<IIII", h)
            data = f.read(incl)
            if len(data) < base + 28:
                continue
            ihl = (data[base] & 15) * 4
            udp = base + ihl
            sport, dport = struct.unpack(">HH", data[udp : udp + 4])
            yield sec + frac / (1e9 if nano else 1e6), sport, dport, data[udp + 8 :]


BRANCH = re.compile(rb"\r\n(?:Via|v)\s*:[^\r]*?branch=([^;,\s\r]+)", re.I)


def wire_latencies(path, uac_port):
    """Per call: first INVITE from the UAC -> first 200 to it (by branch), seconds."""
    sent, lat = {}, []
    for t, sport, dport, p in pcap_packets(path):
        m = BRANCH.search(p)
        if not m:
            continue
        b = m.group(1)
        if sport == uac_port and p.startswith(b"INVITE "):
            sent.setdefault(b, t)
        elif dport == uac_port and p.startswith(b"SIP/2.0 200") and b in sent:
            lat.append(t - sent.pop(b))
    return lat


def sipp_rtt(path):
    """[(date_ms, response_time_ms)] from SIPp's -trace_rtt file (RTD 1 only)."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                x = line.strip().split(";")
                if len(x) >= 3 and x[2] == "1":
                    try:
                        out.append((float(x[0]), float(x[1])))
                    except ValueError:
                        pass
    except OSError:
        pass
    return out


def sipp_stat_last(path):
    """The last row of SIPp's -trace_stat CSV as a dict."""
    try:
        with open(path, encoding="latin-1") as f:
            rows = [l.rstrip("\n") for l in f if l.strip()]
    except OSError:
        return {}
    if len(rows) < 2:
        return {}
    head, last = rows[0].split(";"), rows[-1].split(";")
    return dict(zip(head, last))


def pct(samples, q):
    if not samples:
        return None
    s = sorted(samples)
    k = max(0, min(len(s) - 1, int(-(-q * len(s) // 1)) - 1))  # nearest rank
    return s[k]


# --- commands ----------------------------------------------------------------


def cmd_ticks(args):
    print(sum(ticks_of(p) for p in tree([int(a) for a in args])))


def cmd_tree(args):
    print(" ".join(str(p) for p in tree([int(a) for a in args])))


def cmd_wait_udp(args):
    port, secs = int(args[0]), float(args[1])
    end = time.time() + secs
    while time.time() < end:
        if port in udp_sockets():
            return 0
        time.sleep(0.05)
    print(f"nothing listens on udp {port} after {secs} s", file=sys.stderr)
    return 1


def cmd_free_udp(args):
    used = udp_sockets()
    return 1 if any(int(p) in used for p in args) else 0


def cmd_timed(args):
    out, cmd = args[0], args[2:]
    rc = subprocess.call(cmd)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out, "w") as f:
        f.write(f"{ru.ru_utime + ru.ru_stime:.3f}\n")
    return rc


def cmd_monitor(args):
    out, ports, pids = args[0], [int(p) for p in args[1].split(",")], [int(p) for p in args[2:]]
    with open(out, "a") as f:
        while any(os.path.exists(f"/proc/{p}") for p in pids):
            socks = udp_sockets()
            procs = tree(pids)
            row = {
                "t": time.time(),
                "drops": {str(p): socks[p][1] for p in ports if p in socks},
                "rxq": {str(p): socks[p][0] for p in ports if p in socks},
                "ticks": sum(ticks_of(p) for p in procs),
                "rss_kb": rss_kb(procs),
                "cpus": cpu_times(),
            }
            f.write(json.dumps(row) + "\n")
            f.flush()
            time.sleep(0.5)


def num(x, default=0.0):
    try:
        return float(x)
    except (TypeError, ValueError):
        return default


def cmd_row(args):
    kv = dict(a.split("=", 1) for a in args)
    d = kv["dir"]
    rate, calls = int(kv["rate"]), int(kv["calls"])
    stat = sipp_stat_last(kv["stat"]) if kv.get("stat") else {}
    ok = int(num(stat.get("SuccessfulCall(C)")))
    failed = int(num(stat.get("FailedCall(C)")))
    created = int(num(stat.get("OutgoingCall(C)")))
    retrans = int(num(stat.get("Retransmissions(C)")))
    uas_stat = sipp_stat_last(kv["uas_stat"]) if kv.get("uas_stat") else {}
    uas_retrans = int(num(uas_stat.get("Retransmissions(C)")))
    uas_failed = int(num(uas_stat.get("FailedCall(C)")))
    rtt = sipp_rtt(kv["rtt"]) if kv.get("rtt") else []
    rtd = [r for _, r in rtt]
    # Throughput window: first INVITE to last 200 (SIPp's clock, ms since start).
    if len(rtt) > 1:
        first = min(dt - r for dt, r in rtt)
        last = max(dt for dt, _ in rtt)
        window = max((last - first) / 1000.0, 1e-3)
        achieved = (len(rtt) - 1) / window if ok else 0.0
    else:
        window, achieved = num(kv.get("wall"), 1.0), 0.0
    wire = []
    if kv.get("pcap") and os.path.exists(kv["pcap"]):
        wire = [x * 1000.0 for x in wire_latencies(kv["pcap"], int(kv["uac_port"]))]
    sut_cpu = (int(kv["sut_ticks1"]) - int(kv["sut_ticks0"])) / CLK_TCK
    uas_cpu = (int(kv["uas_ticks1"]) - int(kv["uas_ticks0"])) / CLK_TCK
    uac_cpu = num(open(kv["uac_cpu"]).read()) if os.path.exists(kv.get("uac_cpu", "")) else 0.0
    wall = num(kv.get("wall"), 1.0)
    drops, peak_rss, peak_ticks = {}, 0, 0.0
    mon = []
    if os.path.exists(kv.get("monitor", "")):
        with open(kv["monitor"]) as f:
            mon = [json.loads(l) for l in f if l.strip()]
    for role, port in (("sut", kv["sut_port"]), ("uac", kv["uac_port"]), ("uas", kv["uas_port"])):
        seen = [m["drops"][port] for m in mon if port in m["drops"]]
        drops[role] = (max(seen) - min(seen)) if seen else 0
    for m in mon:
        peak_rss = max(peak_rss, m.get("rss_kb", 0))
    for a, b in zip(mon, mon[1:]):
        if b["t"] > a["t"]:
            peak_ticks = max(peak_ticks, (b["ticks"] - a["ticks"]) / CLK_TCK / (b["t"] - a["t"]))
    # Interference: CPU time on the SUT's core not used by the SUT (other
    # processes, e.g. a build), and hypervisor steal on every core.
    other_pct, steal_pct = None, None
    withcpu = [m for m in mon if "cpus" in m]
    if len(withcpu) >= 2 and kv.get("sut_core") in withcpu[0]["cpus"]:
        a, b = withcpu[0], withcpu[-1]
        c = kv["sut_core"]
        dt = b["t"] - a["t"]
        if dt > 0:
            busy = (b["cpus"][c][0] - a["cpus"][c][0]) - (b["ticks"] - a["ticks"])
            other_pct = round(100.0 * max(0, busy) / CLK_TCK / dt, 1)
            steal = sum(b["cpus"][k][1] - a["cpus"][k][1] for k in b["cpus"] if k in a["cpus"])
            steal_pct = round(100.0 * steal / CLK_TCK / dt, 1)
    log_warn, log_error, first_log = 0, 0, None
    try:
        with open(os.path.join(d, "sut.log"), errors="replace") as f:
            for line in f:
                if re.search(r"\bWARN\b|WARNING:", line):
                    log_warn += 1
                elif re.search(r"\bERROR\b|ERROR:|CRITICAL", line):
                    log_error += 1
                else:
                    continue
                first_log = first_log or line.strip()[:200]
    except OSError:
        pass
    row = {
        "sut": kv["sut"],
        "rate": rate,
        "calls": calls,
        "created": created,
        "successful": ok,
        "failed": failed,
        "not_started": max(0, calls - created),
        "retransmissions": retrans + uas_retrans,
        "uac_retransmissions": retrans,
        "uas_retransmissions": uas_retrans,
        "uas_failed": uas_failed,
        "window_s": round(window, 3),
        "wall_s": round(wall, 3),
        "achieved_cps": round(achieved, 1),
        "sut_cpu_s": round(sut_cpu, 2),
        "calls_per_cpu_s": round(ok / sut_cpu, 0) if sut_cpu > 0 else None,
        "sut_cpu_pct": round(100.0 * sut_cpu / window, 1) if window else None,
        "sut_peak_cpu_pct": round(100.0 * peak_ticks, 0),
        "sut_peak_rss_mb": round(peak_rss / 1024.0, 0),
        "sut_core_other_pct": other_pct,
        "steal_pct": steal_pct,
        "loadavg_before": num(kv.get("loadavg"), None),
        "gen_cpu_pct": round(100.0 * (uac_cpu + uas_cpu) / max(wall, 1e-3), 0),
        "drops": drops,
        "rtd_samples": len(rtd),
        "rtd_p50_ms": pct(rtd, 0.50),
        "rtd_p99_ms": pct(rtd, 0.99),
        "rtd_max_ms": max(rtd) if rtd else None,
        "wire_samples": len(wire),
        "wire_p50_ms": round(pct(wire, 0.50), 3) if wire else None,
        "wire_p99_ms": round(pct(wire, 0.99), 3) if wire else None,
        "wire_max_ms": round(max(wire), 3) if wire else None,
        "uac_rc": int(kv.get("uac_rc", "0")),
        "sut_log_warnings": log_warn,
        "sut_log_errors": log_error,
        "sut_log_first": first_log,
    }
    target = float(kv.get("p99_target_ms", "20"))
    p99 = row["rtd_p99_ms"]
    if row["wire_p99_ms"] is not None:
        p99 = max(p99 if p99 is not None else 0.0, row["wire_p99_ms"])
    row["loss_free"] = bool(row["retransmissions"] == 0 and drops["sut"] == 0 and ok == calls and failed == 0)
    row["pass"] = bool(
        ok == calls
        and failed == 0
        and p99 is not None
        and p99 < target
        and achieved >= 0.97 * rate
    )
    print(json.dumps(row))


def fmt_ms(x, digits=2):
    return "n/a" if x is None else f"{x:.{digits}f}"


def sipp_ms(x):
    if x is None:
        return "n/a"
    return "< 4 ms" if x == 0 else f"{x:.0f} ms"


def fmt_int(x):
    return "n/a" if x is None else f"{int(round(x)):,}"


def cmd_report(args):
    results, md = args[0], args[1]
    meta = {}
    rows = []
    with open(results) as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            if "meta" in r:
                meta = r["meta"]
            else:
                rows.append(r)
    suts = []
    for r in rows:
        if r["sut"] not in suts:
            suts.append(r["sut"])
    target = meta.get("p99_target_ms", 20)
    out = []
    out.append("# Call throughput: Bridgehead vs Kamailio (SIPp, UDP, loopback)\n")
    out.append(f"Generated by `{meta.get('command', 'bash bench/load.sh')}` on {meta.get('date', '?')}.\n")
    out.append(
        f"Machine: {meta.get('cpu', '?')}, {meta.get('cores', '?')} cores, Linux {meta.get('kernel', '?')}. "
        f"Gateway `{meta.get('gateway_rev', '?')}`; {meta.get('kamailio', 'Kamailio ?')} "
        f"({meta.get('kamailio_children', '?')} UDP workers); {meta.get('sipp', 'SIPp ?')}.\n"
    )
    out.append(
        f"Each run: SIPp UAC -> system under test -> SIPp UAS, {meta.get('duration_s', '?')} s at the asked rate "
        "(INVITE, 100, 180, 200, ACK, BYE immediately, 200; no media). "
        f"SUT pinned to CPU {meta.get('sut_cpu', '?')}, both SIPp to CPU {meta.get('gen_cpu', '?')} (`taskset`). "
        f"Bridgehead: `gateway run`, RUST_LOG={meta.get('gateway_log', 'warn')}, the SIPp UAC as operator and the UAS as the one Teams proxy, "
        f"limits raised to max_calls={meta.get('max_calls', '?')}, max_transactions={meta.get('max_transactions', '?')}. "
        "Kamailio: tm + rr stateful proxy (record_route, t_relay to the UAS), debug=0, 1 GB shm pool.\n"
    )
    out.append(
        "Columns: *calls/s* = successful calls over the first-INVITE-to-last-200 window; *calls/CPU-s* = successful "
        "calls per CPU-second the SUT used (utime+stime of all its processes, /proc); *setup p50/p99* = INVITE -> 200 "
        "at the UAC on the wire (loopback capture, µs timestamps); *SIPp p99* = the same from SIPp's RTD log "
        "(4 ms clock ticks); *drops* = datagrams dropped by the SUT's UDP socket (receive buffer full); "
        "*retrans* = SIPp retransmissions (UAC INVITE/BYE and UAS 200), each one a message lost or late by 500 ms; "
        "*SUT CPU* = mean / peak (0.5 s) share of its core; *SUT peak RSS* = anonymous memory of its processes "
        "plus shared memory once (Kamailio's shm pool); *gen CPU* = both SIPp on their core. "
        f"Pass = every call succeeded, p99 < {target} ms by both measures, and >= 97 % of the asked rate.\n"
    )
    out.append(
        "| SUT | rate asked | calls/s achieved | calls per CPU-second | failed | setup p50 | setup p99 | setup max "
        "| SIPp p99 | retrans | SUT drops | SUT CPU mean/peak | SUT peak RSS | gen CPU | pass |"
    )
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        failed = r["failed"] + r.get("not_started", 0)
        out.append(
            f"| {r['sut']} | {r['rate']:,} | {fmt_int(r['achieved_cps'])} | {fmt_int(r['calls_per_cpu_s'])} | "
            f"{failed:,} | {fmt_ms(r['wire_p50_ms'])} ms | {fmt_ms(r['wire_p99_ms'])} ms | "
            f"{fmt_ms(r['wire_max_ms'], 1)} ms | {sipp_ms(r['rtd_p99_ms'])} | {r['retransmissions']:,} | "
            f"{r['drops'].get('sut', 0):,} | "
            f"{fmt_int(r['sut_cpu_pct'])} % / {fmt_int(r['sut_peak_cpu_pct'])} % | {fmt_int(r.get('sut_peak_rss_mb'))} MB | "
            f"{fmt_int(r['gen_cpu_pct'])} % | {'yes' if r['pass'] else '**no**'} |"
        )
    out.append("")
    others = [r["sut_core_other_pct"] for r in rows if r.get("sut_core_other_pct") is not None]
    steals = [r["steal_pct"] for r in rows if r.get("steal_pct") is not None]
    if others:
        out.append(
            f"Interference: CPU used on the SUT's core by anything but the SUT (user+system, other processes): "
            f"at most {max(others):.1f} % of the core in any run; hypervisor steal at most "
            f"{max(steals) if steals else 0:.1f} %.\n"
        )
    best = {}
    for s in suts:
        ok = [r for r in rows if r["sut"] == s and r["pass"]]
        best[s] = max(ok, key=lambda r: r["rate"]) if ok else None
    out.append(f"Highest passing rate (0 failed, p99 < {target} ms):\n")
    for s in suts:
        b = best[s]
        if b:
            out.append(
                f"- {s}: **{b['rate']:,} calls/s asked**, {fmt_int(b['achieved_cps'])} achieved, "
                f"{fmt_int(b['calls_per_cpu_s'])} calls per CPU-second, setup p50 {fmt_ms(b['wire_p50_ms'])} ms / "
                f"p99 {fmt_ms(b['wire_p99_ms'])} ms"
            )
        else:
            out.append(f"- {s}: no rate passed")
    out.append("")
    out.append("Highest loss-free rate (0 failed, no datagram dropped by the SUT, no retransmission by either SIPp):\n")
    for s in suts:
        ok = [r for r in rows if r["sut"] == s and r.get("loss_free")]
        b = max(ok, key=lambda r: r["rate"]) if ok else None
        out.append(f"- {s}: " + (f"{b['rate']:,} calls/s" if b else "none of the rates tried"))
    out.append("")
    if len(suts) >= 2 and all(best[s] for s in suts[:2]):
        a, k = suts[0], suts[1]
        ba, bk = best[a], best[k]
        out.append(f"Ratio {a} / {k}:\n")
        out.append(
            f"- calls/s at the best passing rate: {fmt_int(ba['achieved_cps'])} / {fmt_int(bk['achieved_cps'])} = "
            f"**{ba['achieved_cps'] / bk['achieved_cps']:.2f}x**"
        )
        out.append(
            f"- calls per CPU-second at the best passing rate: {fmt_int(ba['calls_per_cpu_s'])} / "
            f"{fmt_int(bk['calls_per_cpu_s'])} = **{ba['calls_per_cpu_s'] / bk['calls_per_cpu_s']:.2f}x**"
        )
        both = sorted(
            set(r["rate"] for r in rows if r["sut"] == a and r["pass"])
            & set(r["rate"] for r in rows if r["sut"] == k and r["pass"])
        )
        if both:
            hi = both[-1]
            ra = next(r for r in rows if r["sut"] == a and r["rate"] == hi)
            rk = next(r for r in rows if r["sut"] == k and r["rate"] == hi)
            out.append(
                f"- calls per CPU-second at the same load ({hi:,} calls/s, the highest both passed): "
                f"{fmt_int(ra['calls_per_cpu_s'])} / {fmt_int(rk['calls_per_cpu_s'])} = "
                f"**{ra['calls_per_cpu_s'] / rk['calls_per_cpu_s']:.2f}x**"
            )
        top = max(r["rate"] for r in rows)
        if ba["rate"] == top and bk["rate"] == top:
            out.append(
                "- both passed the highest rate tried: the calls/s ratio is bounded by the rates tried, not by "
                "either system"
            )
        elif ba["rate"] == top:
            out.append(f"- {a} passed the highest rate tried ({top:,}): its calls/s ratio is a lower bound")
        out.append("")
    elif len(suts) >= 2:
        out.append("Ratio: not computed (a system passed no rate).\n")
    failing = [r for r in rows if not r["pass"]]
    if failing:
        out.append("Runs that did not pass:\n")
        for r in failing:
            why = []
            if r["failed"] or r.get("not_started"):
                why.append(f"{r['failed'] + r.get('not_started', 0):,} failed calls")
            p99 = max(x for x in (r["rtd_p99_ms"], r["wire_p99_ms"], 0) if x is not None)
            if p99 >= target:
                why.append(f"p99 {p99:.1f} ms")
            if r["achieved_cps"] < 0.97 * r["rate"]:
                why.append(f"{fmt_int(r['achieved_cps'])} calls/s achieved")
            d = r["drops"]
            why.append(
                f"datagrams dropped by the socket: SUT {d.get('sut', 0):,}, UAC {d.get('uac', 0):,}, UAS {d.get('uas', 0):,}"
            )
            why.append(f"{r['retransmissions']:,} SIPp retransmissions")
            if r.get("sut_log_warnings") or r.get("sut_log_errors"):
                why.append(
                    f"SUT log: {r['sut_log_warnings']:,} warnings, {r['sut_log_errors']:,} errors "
                    f"(first: `{r['sut_log_first']}`)"
                )
            out.append(f"- {r['sut']} at {r['rate']:,}: " + "; ".join(why))
        out.append("")
    text = "\n".join(out) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(md)), exist_ok=True)
    with open(md, "w") as f:
        f.write(text)
    print(text)


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    cmd, args = sys.argv[1], sys.argv[2:]
    fn = {
        "ticks": cmd_ticks,
        "tree": cmd_tree,
        "wait-udp": cmd_wait_udp,
        "free-udp": cmd_free_udp,
        "timed": cmd_timed,
        "monitor": cmd_monitor,
        "row": cmd_row,
        "report": cmd_report,
    }.get(cmd)
    if fn is None:
        print(__doc__)
        return 2
    return fn(args) or 0


if __name__ == "__main__":
    sys.exit(main())
