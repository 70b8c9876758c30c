#!/usr/bin/python3
"""Turn one bench.py JSON file into results/<stamp>.md and PNG charts (gnuplot).

  /usr/bin/python3 bench/report.py bench/results/<stamp>.json

Stdlib only. Every figure in a table is the median over the runs of that server
and workload; ratios are ratios of those medians, taken within the one run of the
suite (servers alternated), never across files.
"""
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

CEILING = "ceiling"
CEILING_BALANCED = "ceiling-reuseport"
NGINX = "nginx"
NODE = "node-cluster"
H2O = "h2o"


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt_int(v):
    return "–" if v is None else f"{v:,.0f}"


def fmt(v, digits=2):
    return "–" if v is None else f"{v:.{digits}f}"


def fmt_ms(us):
    return "–" if us is None else f"{us / 1000:.2f}"


def fmt_ratio(a, b):
    if a is None or not b:
        return "–"
    return f"{a / b:.2f}"


def median_shares(runs, key):
    """Median of each position of the sorted per-worker shares."""
    lists = [r.get(key) or [] for r in runs]
    lists = [l for l in lists if l]
    if not lists:
        return None
    n = max(len(l) for l in lists)
    out = []
    for i in range(n):
        vals = [l[i] for l in lists if len(l) > i]
        out.append(statistics.median(vals))
    return out


def display(doc, text):
    """Shorter paths for the report: repo-relative, $RUN for the run's temp dir."""
    st = doc["settings"]
    if st.get("run_dir"):
        text = text.replace(st["run_dir"], "$RUN")
    if st.get("repo"):
        text = text.replace(st["repo"] + "/", "")
    return text


def summarize(doc):
    groups = {}
    for r in doc["runs"]:
        groups.setdefault((r["workload"], r["server"]), []).append(r)
    summary = {}
    for (wl, srv), runs in groups.items():
        rps = [r["rps"] for r in runs]
        s = dict(
            runs=len(runs),
            rps=med(rps),
            rps_min=min(rps), rps_max=max(rps),
            mib_s=med(r.get("mib_s") for r in runs),
            bytes_per_req=med(r.get("bytes_per_req") for r in runs),
            p50_us=med(r["p50_us"] for r in runs),
            p99_us=med(r["p99_us"] for r in runs),
            socket_errors=sum(r["socket_errors"] for r in runs),
            non2xx=sum(r["non2xx"] for r in runs),
            requests=sum(r["requests"] for r in runs),
            cpu_us_per_req=med(r["cpu_us_per_req"] for r in runs),
            syscalls_per_req=med(r.get("syscalls_per_req") for r in runs),
            ctxsw_per_req=med(r.get("ctxsw_per_req") for r in runs),
            other_cpu_pct=med(100.0 * r["other_cpu_s"] / (r["elapsed_s"] * doc["machine"]["nproc"])
                              for r in runs),
            worker_cpu_share=median_shares(runs, "worker_cpu_share"),
            worker_conn_share=median_shares(runs, "worker_conn_share"),
            worker_req_share=median_shares(runs, "worker_req_share"),
        )
        idles = [r["idle"] for r in runs if r.get("idle")]
        if idles:
            s["idle_rss_per_conn"] = med(i.get("rss_per_conn") for i in idles)
            s["idle_opened"] = min(i["opened"] for i in idles)
            s["idle_requested"] = idles[0]["requested"]
            alive = [i.get("alive_after") for i in idles if i.get("alive_after") is not None]
            s["idle_alive"] = min(alive) if alive else None
            s["idle_per_worker"] = median_shares([{"x": i.get("per_worker")} for i in idles], "x")
            # newer files only (idle100k's and later idle10k runs): the workers' RSS alone,
            # how long opening took, and what the helpers said when they gave up
            s["idle_worker_rss_per_conn"] = med(i.get("worker_rss_per_conn") for i in idles)
            s["idle_worker_rss_before"] = med(i.get("worker_rss_before") for i in idles)
            s["idle_worker_rss_after"] = med(i.get("worker_rss_after") for i in idles)
            s["idle_open_s"] = med(i.get("open_s") for i in idles)
            s["idle_notes"] = sorted({n for i in idles for n in (i.get("notes") or [])})
        before = [r["before_idle"] for r in runs if r.get("before_idle")]
        if before:
            s["before_p99_us"] = med(b["p99_us"] for b in before)
            s["before_rps"] = med(b["rps"] for b in before)
            s["before_cpu_us_per_req"] = med(b.get("cpu_us_per_req") for b in before)
        control = [r["control_idle"] for r in runs if (r.get("control_idle") or {}).get("p99_us") is not None]
        if control:
            s["control_p99_us"] = med(c["p99_us"] for c in control)
            s["control_opened"] = min(c["opened"] for c in control)
            s["control_cpu_us_per_req"] = med(c.get("cpu_us_per_req") for c in control)
        s["workers"] = med(r.get("workers") for r in runs)
        summary[(wl, srv)] = s
    return summary


def shares_text(shares):
    if not shares:
        return "–"
    return "/".join(f"{v:.0f}" for v in shares)


def write_charts(doc, summary, out_dir, stamp):
    """Two PNGs: req/s and CPU µs/req, one panel per workload. Returns file names."""
    if shutil.which("gnuplot") is None:
        return []
    workloads = [w for w in doc["settings"]["workloads"] if any(k[0] == w for k in summary)]
    if not workloads:  # nothing ran (every workload skipped, or interrupted before the first run)
        return []
    servers = doc["settings"]["servers"]
    made = []
    for metric, label, fname in (("rps", "requests/s (thousands)", f"{stamp}-rps.png"),
                                 ("cpu_us_per_req", "server CPU µs per request", f"{stamp}-cpu.png")):
        dat = out_dir / f".{stamp}-{metric}.dat"
        lines = []
        for w in workloads:
            for i, srv in enumerate(servers):
                s = summary.get((w, srv))
                v = None if s is None else s[metric]
                if v is not None and metric == "rps":
                    v /= 1000.0
                lines.append(f'"{w}" {i} "{srv}" {v if v is not None else "NaN"}')
            lines.append("")
            lines.append("")
        dat.write_text("\n".join(lines) + "\n")
        cols = min(3, len(workloads))
        rows = (len(workloads) + cols - 1) // cols
        script = [
            f'set terminal pngcairo size {420 * cols},{360 * rows} font "sans,9"',
            f'set output "{out_dir / fname}"',
            f'set multiplot layout {rows},{cols} title "{label} — median of runs ({stamp})"',
            "set style fill solid 0.8 border -1",
            "set boxwidth 0.7",
            "set grid ytics",
            "set yrange [0:*]",
            "set xtics rotate by -35 nomirror",
            "unset key",
        ]
        for bi, w in enumerate(workloads):
            title = doc["workloads"][w]["title"]
            script += [
                f'set title "{title}"',
                f'set xrange [-0.6:{len(servers) - 0.4}]',
                f'plot "{dat}" index {bi} using 2:4:($2+1):xtic(3) with boxes lc variable, '
                f'"" index {bi} using 2:4:(sprintf("%.{1 if metric == "rps" else 2}f", $4)) '
                'with labels offset 0,0.6 font "sans,8"',
            ]
        script.append("unset multiplot")
        p = subprocess.run(["gnuplot"], input="\n".join(script), text=True, capture_output=True)
        dat.unlink(missing_ok=True)
        if p.returncode == 0:
            made.append(fname)
        else:
            print(f"report: gnuplot failed for {fname}: {p.stderr[-500:]}", file=sys.stderr)
    return made


def title(doc, workload):
    """A workload's title; one left out of this run (-l) is named by its key."""
    return doc["workloads"].get(workload, {}).get("title", workload)


def idle_held(s):
    """How many idle connections the server held to the end (opened, for older files)."""
    return s.get("idle_opened") if s.get("idle_alive") is None else s["idle_alive"]


def idle100k_bars(doc, summary, srv, get, ratio, row, check):
    """issue 17: 100,000 idle connections, at most 256 B of worker RSS each, p99 within
    1.5x of without them. A server that held fewer than asked has not met either."""
    skipped = doc.get("skipped", {}).get("idle100k")
    if skipped:
        return [row("100k idle", f"skipped: {skipped}", None, "≤ 256 B/conn, p99 ≤ 1.5×")]
    s = summary[("idle100k", srv)]
    want, held = s.get("idle_requested"), idle_held(s)
    all_held = bool(want) and held is not None and held >= want
    out = [row("100k idle: connections held to the end", f"{fmt_int(held)} of {fmt_int(want)}",
               all_held, "all")]
    rss = s.get("idle_worker_rss_per_conn")
    if rss is None:
        rss = s.get("idle_rss_per_conn")
    out.append(row("100k idle: worker RSS per idle connection",
                   "–" if rss is None else f"{rss:.0f} B",
                   None if rss is None else (rss <= 256 and all_held), "≤ 256 B"))
    # Against the keepalive workload only when it ran with the same workers; otherwise
    # (spread mode runs more workers) against the same instance's run before opening them.
    # The same instance's run before they were opened; older result files have none, and
    # there keep-alive's run of the same workers stands in.
    base, what = s.get("before_p99_us"), "the same server's without them"
    ka = summary.get(("keepalive", srv))
    if base is None and ka is not None and ka.get("workers") == s.get("workers"):
        base, what = ka["p99_us"], "keep-alive's"
    v, ok = check(ratio(s.get("p99_us"), base), "<=", 1.5)
    out.append(row(f"100k idle: p99 ÷ {what} ({fmt_ms(s.get('p99_us'))} / {fmt_ms(base)} ms)", v,
                   None if ok is None else (ok and all_held), "≤ 1.5"))
    ctl = s.get("control_p99_us")
    if ctl is not None:
        r = ratio(s.get("p99_us"), ctl)
        out.append(row(f"100k idle: p99 ÷ p99 with {fmt_int(s.get('control_opened'))} idle held elsewhere "
                       f"({fmt_ms(s.get('p99_us'))} / {fmt_ms(ctl)} ms; held elsewhere ÷ without: {fmt(ratio(ctl, base))})",
                       fmt(r), None, "(reported: the server's own share)"))
    return out


def bars(doc, summary, servers):
    """The bars of the benchmark issue, checked against this run's medians."""
    def get(w, srv, key):
        s = summary.get((w, srv))
        return None if s is None else s.get(key)

    def ratio(a, b):
        return None if a is None or not b else a / b

    def row(label, value, ok, target):
        verdict = "–" if ok is None else ("**met**" if ok else "**not met**")
        return f"| {label} | {target} | {value} | {verdict} |"

    def check(r, op, limit):
        if r is None:
            return "–", None
        return f"{r:.2f}", (r >= limit if op == ">=" else r <= limit)

    L = ["## The bars", "",
         "Each bar of the benchmark issue, from this run's medians. `ceiling` shares one "
         "listening socket (in practice one worker takes every connection: see `worker req %`); "
         "`ceiling-reuseport` spreads connections over all workers as preforkd does, so it is "
         "the like-for-like yardstick for a server that must use all its workers.", "",
         "| bar | target | measured | |", "|---|---|---:|---|"]
    core = ("keepalive", "keepalive1", "pipelined", "close", "idle10k", "idle100k")
    for srv in [s for s in servers if s.startswith("preforkd")]:
        if not any((w, srv) in summary for w in core):
            continue  # a run of other workloads only (-l static4k,static1m)
        L.append(f"| **{srv}** | | | |")
        for ceil in (CEILING, CEILING_BALANCED):
            if ceil not in servers:
                continue
            v, ok = check(ratio(get("keepalive", srv, "rps"), get("keepalive", ceil, "rps")), ">=", 0.95)
            L.append(row(f"keep-alive req/s ÷ {ceil}", v, ok, "≥ 0.95"))
            v, ok = check(ratio(get("keepalive", srv, "cpu_us_per_req"), get("keepalive", ceil, "cpu_us_per_req")), "<=", 1.1)
            L.append(row(f"keep-alive CPU µs/req ÷ {ceil}", v, ok, "≤ 1.10"))
        v, ok = check(ratio(get("keepalive", srv, "p99_us"), get("keepalive", NGINX, "p99_us")), "<=", 1.0)
        L.append(row("keep-alive p99 ÷ nginx's", v, ok, "≤ 1.00"))
        # issue 17: CPU per request against nginx in both of wrk's shapes, p99 alongside
        r2 = ratio(get("keepalive", srv, "cpu_us_per_req"), get("keepalive", NGINX, "cpu_us_per_req"))
        r1 = ratio(get("keepalive1", srv, "cpu_us_per_req"), get("keepalive1", NGINX, "cpu_us_per_req"))
        ok = None if r1 is None or r2 is None else (r1 <= 0.8 and r2 <= 0.8)
        L.append(row("keep-alive CPU µs/req ÷ nginx, -t2 / -t1", f"{fmt(r2)} / {fmt(r1)}", ok,
                     "≤ 0.80 in both"))
        p2, p1 = get("keepalive", srv, "p99_us"), get("keepalive1", srv, "p99_us")
        if p2 is not None or p1 is not None:
            L.append(row("keep-alive p99 ms, -t2 / -t1 (nginx's)",
                         f"{fmt_ms(p2)} / {fmt_ms(p1)} ({fmt_ms(get('keepalive', NGINX, 'p99_us'))} / "
                         f"{fmt_ms(get('keepalive1', NGINX, 'p99_us'))})", None, "(reported)"))
        rr = ratio(get("keepalive", srv, "rps"), get("keepalive", H2O, "rps"))
        rc = ratio(get("keepalive", srv, "cpu_us_per_req"), get("keepalive", H2O, "cpu_us_per_req"))
        ok = None if rr is None or rc is None else (rr >= 1.0 and rc <= 1.0)
        L.append(row("keep-alive (-t2) req/s ÷ h2o / CPU µs/req ÷ h2o", f"{fmt(rr)} / {fmt(rc)}", ok,
                     "≥ 1 / ≤ 1"))
        v, ok = check(ratio(get("pipelined", srv, "rps"), get("pipelined", NGINX, "rps")), ">=", 3.0)
        L.append(row("pipelined req/s ÷ nginx", v, ok, "≥ 3"))
        for ceil in (CEILING, CEILING_BALANCED):
            if ceil not in servers:
                continue
            rr = ratio(get("pipelined", srv, "rps"), get("pipelined", ceil, "rps"))
            rc = ratio(get("pipelined", srv, "cpu_us_per_req"), get("pipelined", ceil, "cpu_us_per_req"))
            ok = None if rr is None or rc is None else (rr >= 0.95 and rc <= 1.2)
            L.append(row(f"pipelined req/s ÷ {ceil} / CPU µs/req ÷ {ceil}", f"{fmt(rr)} / {fmt(rc)}", ok,
                         "≥ 0.95 / ≤ 1.20"))
        v, ok = check(ratio(get("close", srv, "rps"), get("close", NGINX, "rps")), ">=", 1.1)
        L.append(row("Connection: close req/s ÷ nginx", v, ok, "≥ 1.1"))
        v, ok = check(ratio(get("close", srv, "cpu_us_per_req"), get("close", NGINX, "cpu_us_per_req")), "<=", 1.0)
        L.append(row("Connection: close CPU µs/req ÷ nginx", v, ok, "< 1"))
        v, ok = check(ratio(get("close", srv, "rps"), get("close", CEILING_BALANCED, "rps")), ">=", 1.0)
        L.append(row(f"Connection: close req/s ÷ {CEILING_BALANCED}", v, ok, "≥ 1"))
        rss = get("idle10k", srv, "idle_rss_per_conn")
        L.append(row("10k idle: RSS per idle connection", "–" if rss is None else f"{rss:.0f} B",
                     None if rss is None else rss <= 1024, "≤ 1024 B"))
        v, ok = check(ratio(get("idle10k", srv, "p99_us"), get("keepalive", srv, "p99_us")), "<=", 1.5)
        L.append(row("10k idle: p99 ÷ p99 without them", v, ok, "≤ 1.5"))
        if ("idle100k", srv) in summary or "idle100k" in doc.get("skipped", {}):
            L += idle100k_bars(doc, summary, srv, get, ratio, row, check)
        for w, limit in (("keepalive", 2.0), ("pipelined", 5.0), ("close", 5.0)):
            v, ok = check(ratio(get(w, srv, "rps"), get(w, NODE, "rps")), ">=", limit)
            L.append(row(f"{title(doc, w)} req/s ÷ Node cluster", v, ok, f"≥ {limit:g}"))
        share = get("keepalive", srv, "worker_req_share") or get("keepalive", srv, "worker_cpu_share")
        if share:
            mean = 100.0 / len(share)
            worst = max(abs(x - mean) / mean for x in share)
            L.append(row("keep-alive: worst worker's request share vs the mean",
                         f"{100 * worst:.0f} % ({shares_text(share)})", worst <= 0.25, "within 25 %"))
    static = [s for s in servers if s.startswith("preforkd")]
    if any((w, srv) in summary for w in ("static4k", "static1m") for srv in static):
        L.append("| **static files** (issue 13) | | | |")
        for srv in static:
            v, ok = check(ratio(get("static4k", srv, "rps"), get("static4k", H2O, "rps")), ">=", 1.0)
            L.append(row(f"{srv}: static 4 KiB req/s ÷ h2o", v, ok, "≥ 1"))
            v, ok = check(ratio(get("static4k", srv, "cpu_us_per_req"), get("static4k", NGINX, "cpu_us_per_req")),
                          "<=", 1.0)
            L.append(row(f"{srv}: static 4 KiB CPU µs/req ÷ nginx", v, ok, "≤ 1"))
            v, ok = check(ratio(get("static1m", srv, "mib_s"), get("static1m", NGINX, "mib_s")), ">=", 1.0)
            L.append(row(f"{srv}: static 1 MiB MiB/s ÷ nginx", v, ok, "≥ 1"))
            v, ok = check(ratio(get("static1m", srv, "cpu_us_per_req"), get("static1m", NGINX, "cpu_us_per_req")),
                          "<=", 1.0)
            L.append(row(f"{srv}: static 1 MiB CPU µs/req ÷ nginx", v, ok, "≤ 1"))
    if CEILING in servers:
        L.append(f"| **{CEILING}** (what is physically possible here) | | | |")
        for w in ("keepalive", "pipelined", "close"):
            r = ratio(get(w, CEILING, "rps"), get(w, NODE, "rps"))
            L.append(row(f"{title(doc, w)} req/s ÷ Node cluster",
                         "–" if r is None else f"{r:.2f}", None, "(reference)"))
    # issue 17's bar against nginx, for the do-nothing responders: whether this machine
    # lets any server that answers from two workers reach it
    for ceil in (CEILING, CEILING_BALANCED):
        if ceil in servers and NGINX in servers:
            r2 = ratio(get("keepalive", ceil, "cpu_us_per_req"), get("keepalive", NGINX, "cpu_us_per_req"))
            r1 = ratio(get("keepalive1", ceil, "cpu_us_per_req"), get("keepalive1", NGINX, "cpu_us_per_req"))
            if r1 is not None or r2 is not None:
                L.append(row(f"{ceil}: keep-alive CPU µs/req ÷ nginx, -t2 / -t1", f"{fmt(r2)} / {fmt(r1)}",
                             None, "(reference for ≤ 0.80)"))
    L.append("")
    return L


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: report.py RESULTS.json")
    path = Path(sys.argv[1])
    doc = json.loads(path.read_text())
    out_dir = path.parent
    stamp = doc["stamp"]
    summary = summarize(doc)
    servers = doc["settings"]["servers"]
    workloads = doc["settings"]["workloads"]
    m = doc["machine"]
    st = doc["settings"]
    charts = write_charts(doc, summary, out_dir, stamp)

    L = []
    L.append(f"# preforkd benchmark — {doc['date']}")
    L.append("")
    if doc.get("interrupted"):
        L.append("**The run was interrupted: tables hold only the runs that finished.**")
        L.append("")
    L.append(f"- machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['memory']}, {m['os']}, "
             f"kernel {m['kernel']}; somaxconn {m['somaxconn']}, tcp_tw_reuse {m['tcp_tw_reuse']}; "
             "load generator and servers share the CPUs")
    L.append(f"- command: `{doc['command']}` — {st['runs']} run(s) per server and workload, "
             f"{st['duration']} s each after a fresh start and a {st['warmup']} s warm-up; servers "
             f"alternated in the order {', '.join(servers)}; {st['workers']} workers each "
             f"(1 in the pinned workload); total {doc.get('elapsed_s', 0):.0f} s")
    L.append("- versions: " + "; ".join(f"{k}: {v}" for k, v in doc["versions"].items() if v))
    if m.get("wake_cost"):
        L.append(f"- wake-ups (`bench/wake_cost`, before the runs): {m['wake_cost']}")
    if st.get("page_reporting"):
        L.append(f"- {st['page_reporting']}")
    if not st["perf"]:
        L.append(f"- perf stat unavailable ({st.get('perf_note')}): syscalls and context switches not measured")
    if doc.get("discarded"):
        L.append(f"- {len(doc['discarded'])} run(s) were disturbed (other CPU above "
                 f"{st.get('max_other_cpu', '?')}%) and run again; the repeats are in the tables, "
                 "the disturbed ones only in the JSON (`discarded`)")
    for w, why in (doc.get("skipped") or {}).items():
        L.append(f"- **{w} skipped**: {why}")
    if doc.get("failures"):
        L.append(f"- **{len(doc['failures'])} run(s) failed**: " + "; ".join(doc["failures"][:10]))
    L.append("")
    L.append("Figures are medians over the runs. Only ratios within this file mean anything "
             "(figures drift 10–15% between suite runs). `CPU µs/req` = server CPU time "
             "(utime+stime of the master and every worker) / completed requests; it is the "
             "fairest figure on a machine where wrk competes for the same CPUs. "
             "Latency: wrk's histogram (p99 repaired where wrk prints 0, see README); for "
             "pipelined it is per batch of 16. `errors` = socket errors / non-2xx, summed over runs. "
             "`worker CPU %` = each worker's share of the server's worker CPU time, a proxy for "
             "its share of requests (no server here exposes a per-worker request counter); "
             "`worker conns %` = share of the open connections, sampled mid-run. "
             "`other CPU` = CPU used by anything but the server and wrk during the run "
             "(perf, this driver, other processes on the machine): a high value means the run was disturbed.")
    L.append("")

    # headline
    L.append("## Headline")
    L.append("")
    head = "| server | " + " | ".join(f"{doc['workloads'][w]['title']} req/s | µs/req" for w in workloads) + " |"
    L.append(head)
    L.append("|---|" + "---:|---:|" * len(workloads))
    for srv in servers:
        cells = []
        for w in workloads:
            s = summary.get((w, srv))
            cells += [fmt_int(s and s["rps"]), fmt(s and s["cpu_us_per_req"])]
        L.append(f"| {srv} | " + " | ".join(cells) + " |")
    L.append("")
    for srv in [s for s in servers if s.startswith("preforkd")]:
        L.append(f"**{srv}** — req/s ratio to ceiling / to nginx; CPU µs/req ratio to ceiling / to nginx:")
        L.append("")
        L.append("| workload | req/s ÷ ceiling | req/s ÷ nginx | µs/req ÷ ceiling | µs/req ÷ nginx |")
        L.append("|---|---:|---:|---:|---:|")
        for w in workloads:
            s, c, n = summary.get((w, srv)), summary.get((w, CEILING)), summary.get((w, NGINX))
            L.append(f"| {doc['workloads'][w]['title']} | "
                     f"{fmt_ratio(s and s['rps'], c and c['rps'])} | {fmt_ratio(s and s['rps'], n and n['rps'])} | "
                     f"{fmt_ratio(s and s['cpu_us_per_req'], c and c['cpu_us_per_req'])} | "
                     f"{fmt_ratio(s and s['cpu_us_per_req'], n and n['cpu_us_per_req'])} |")
        L.append("")
    L += bars(doc, summary, servers)
    for c in charts:
        L.append(f"![{c}]({c})")
        L.append("")

    # per workload
    for w in workloads:
        wd = doc["workloads"][w]
        L.append(f"## {wd['title']}")
        L.append("")
        L.append(f"{wd['desc']}. Measured: `{display(doc, wd['wrk'].replace('18080', 'PORT'))}`")
        L.append("")
        idle = wd.get("idle")
        static = wd.get("static")
        if w in (doc.get("skipped") or {}):
            L.append(f"**Skipped**: {doc['skipped'][w]}")
            L.append("")
            continue
        big = wd.get("baseline")
        if wd.get("fd_plan"):
            L.append(f"Open files: {wd['fd_plan']['note']}.")
            L.append("")
        cols = ["server", "req/s"] + (["MiB/s", "B/resp"] if static else []) + ["÷ ceiling", "÷ nginx", "p50 ms", "p99 ms", "errors",
                "CPU µs/req", "syscalls/req", "ctx-sw/req", "worker req %", "worker CPU %", "worker conns %"]
        if idle:
            cols += ["RSS B/idle conn", "idle open at end", "idle per worker"]
        if big:
            cols += ["workers", "worker RSS B/idle conn", "worker RSS MiB before → with idle",
                     "opening s", "p99 ms without idle",
                     "req/s without idle", "CPU µs/req without idle", "p99 ms, idle held elsewhere",
                     "CPU µs/req, idle held elsewhere"]
        cols += ["req/s min–max", "other CPU %"]
        L.append("| " + " | ".join(cols) + " |")
        L.append("|---|" + "---:|" * (len(cols) - 1))
        c = summary.get((w, CEILING))
        n = summary.get((w, NGINX))
        for srv in servers:
            s = summary.get((w, srv))
            if s is None:
                if not static:  # a server that serves no files is left out of those tables
                    L.append(f"| {srv} | " + " | ".join(["–"] * (len(cols) - 1)) + " |")
                continue
            row = [srv, fmt_int(s["rps"])] + ([fmt_int(s["mib_s"]), fmt_int(s["bytes_per_req"])] if static else []) + [
                   fmt_ratio(s["rps"], c and c["rps"]),
                   fmt_ratio(s["rps"], n and n["rps"]), fmt_ms(s["p50_us"]), fmt_ms(s["p99_us"]),
                   f"{s['socket_errors']}/{s['non2xx']}", fmt(s["cpu_us_per_req"]),
                   fmt(s["syscalls_per_req"]), fmt(s["ctxsw_per_req"], 3),
                   shares_text(s["worker_req_share"]),
                   shares_text(s["worker_cpu_share"]), shares_text(s["worker_conn_share"])]
            if idle:
                alive = s.get("idle_alive")
                row += [fmt_int(s.get("idle_rss_per_conn")),
                        f"{fmt_int(alive)}/{fmt_int(s.get('idle_opened'))}",
                        "/".join(f"{v:.0f}" for v in (s.get("idle_per_worker") or [])) or "–"]
            if big:
                b, a = s.get("idle_worker_rss_before"), s.get("idle_worker_rss_after")
                row += [fmt_int(s.get("workers")), fmt_int(s.get("idle_worker_rss_per_conn")),
                        "–" if b is None or a is None else f"{b / 2**20:.1f} → {a / 2**20:.1f}",
                        fmt(s.get("idle_open_s"), 0), fmt_ms(s.get("before_p99_us")),
                        fmt_int(s.get("before_rps")), fmt(s.get("before_cpu_us_per_req")),
                        fmt_ms(s.get("control_p99_us")), fmt(s.get("control_cpu_us_per_req"))]
            row += [f"{fmt_int(s['rps_min'])}–{fmt_int(s['rps_max'])}", fmt(s["other_cpu_pct"], 1)]
            L.append("| " + " | ".join(row) + " |")
        L.append("")
        if static:
            L.append("MiB/s = wrk's bytes read (response heads included) / run time; B/resp = those bytes "
                     "per response, so the head's share shows. Only the servers that serve a docroot run here.")
            L.append("")
        if big:
            notes = [(srv, n) for srv in servers for n in
                     ((summary.get((w, srv)) or {}).get("idle_notes") or [])]
            req = next((summary[(w, srv)].get("idle_requested") for srv in servers
                        if (w, srv) in summary), None)
            short = [srv for srv in servers if (w, srv) in summary and req
                     and (idle_held(summary[(w, srv)]) or 0) < req]
            if short:
                L.append(f"**Held fewer than {fmt_int(req)} idle connections**: "
                         + ", ".join(f"{srv} ({fmt_int(summary[(w, srv)].get('idle_alive'))} at the end, "
                                     f"{fmt_int(summary[(w, srv)].get('idle_opened'))} opened)"
                                     for srv in short)
                         + ". Their RSS and p99 figures are for that many.")
                L.append("")
            for srv, n in notes:
                L.append(f"- {srv}: {n}")
            if notes:
                L.append("")
            L.append("`worker RSS B/idle conn` = (workers' RSS with the idle connections − before) / "
                     "connections opened; it leaves out the master (Node: the primary). Tables a server "
                     "sizes by its connection limit and touches at start are in *before*: see the "
                     "MiB column. "
                     "`p99 ms without idle` / `req/s without idle`: the same wrk run on the same "
                     "server instance just before the idle connections were opened. "
                     "`p99 ms, idle held elsewhere`: the control, the same wrk run on the same instance "
                     "once more, with as many idle connections open on the machine but held by bare "
                     "stand-ins (`idle_holder.py`) instead of the server: the part of the p99 that "
                     "those connections cost the machine, whoever holds them.")
            L.append("")
        if w == "close":
            L.append("wrk counts a *read error* each time it reads the server's end-of-file as a "
                     "separate read after a complete response on a `Connection: close` connection, "
                     "so read errors here mostly mean \"the server closed first\", not failed requests.")
            L.append("")

    # commands and configs
    L.append("## Exact commands")
    L.append("")
    L.append("```")
    L.append(doc["command"])
    for w in workloads:
        L.append(f"# {w}: {display(doc, doc['workloads'][w]['wrk'].replace('18080', 'PORT'))}")
    seen = set()
    for r in doc["runs"]:
        if r["server"] in seen or r.get("pinned"):
            continue
        seen.add(r["server"])
        L.append(f"# {r['server']} (port {r['port']}): " + display(doc, " ".join(r["server_argv"])))
    L.append("```")
    L.append("")
    seen = set()
    for r in doc["runs"]:
        is_static = bool(doc["workloads"].get(r["workload"], {}).get("static"))
        key = (r["server"], is_static)
        if key in seen or not r.get("config") or r.get("pinned"):
            continue
        seen.add(key)
        for fname, text in r["config"].items():
            what = " (static workloads)" if is_static else ""
            L.append(f"<details><summary>{r['server']}{what}: {fname}</summary>")
            L.append("")
            L.append("```")
            L.append(display(doc, text.rstrip()))
            L.append("```")
            L.append("")
            L.append("</details>")
            L.append("")
    L.append(f"Raw data of every run: [{path.name}]({path.name}).")
    L.append("")
    md = out_dir / f"{stamp}.md"
    md.write_text("\n".join(L))
    print(f"report: {md}" + "".join(f", {out_dir / c}" for c in charts))


if __name__ == "__main__":
    main()
