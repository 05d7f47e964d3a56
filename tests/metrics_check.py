#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Check a node_exporter /metrics scrape against portgate's own JSON.

usage: metrics_check.py SCRAPE STATS_JSON STATUS_JSON VERSION NREASONS

SCRAPE is what curl got from node_exporter; it is parsed with
prometheus_client's text parser (the reference parser of the exposition
format). Every portgate family must have HELP and TYPE, counters must end
in _total, and every value must equal `portgate stats -j` / `status -j`
read at the same moment. Prints one line per failed check and exits 1,
or prints a summary and exits 0. Used by tests/test_metrics.c.
"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    scrape_path, stats_path, status_path, version, nreasons = sys.argv[1:6]
    text = open(scrape_path).read()
    stats = json.load(open(stats_path))
    status = json.load(open(status_path))
    fails = []
    checks = 0

    def check(ok, what):
        nonlocal checks
        checks += 1
        if not ok:
            fails.append(what)

    fams = {}
    for f in text_string_to_metric_families(text):
        fams[f.name] = f
    # HELP and TYPE of every portgate family (no TYPE -> type "unknown")
    for line in text.splitlines():
        if line.startswith("portgate_"):
            name = line.split("{")[0].split(" ")[0]
            check("# TYPE " + name.removesuffix("_total") in text
                  or "# TYPE " + name + " " in text, "no TYPE line for " + name)
    portgate = {n: f for n, f in fams.items() if n.startswith("portgate_")}
    check(len(portgate) >= 12, "only %d portgate families: %s" % (len(portgate), sorted(portgate)))
    for n, f in portgate.items():
        check(f.type in ("counter", "gauge"), "%s has type %s" % (n, f.type))
        check(f.documentation != "", "%s has no HELP" % n)
        for s in f.samples:
            if f.type == "counter":
                check(s.name.endswith("_total"), "counter sample %s does not end in _total" % s.name)

    def samples(name):
        fam = portgate.get(name.removesuffix("_total"))
        return [] if fam is None else [s for s in fam.samples if s.name == name]

    def one(name, **labels):
        got = [s.value for s in samples(name) if all(s.labels.get(k) == v for k, v in labels.items())]
        check(len(got) == 1, "%s%s: %d series" % (name, labels, len(got)))
        return got[0] if got else None

    # node_exporter read the file without error
    err = [s.value for f in fams.values() for s in f.samples if s.name == "node_textfile_scrape_error"]
    check(err == [0.0], "node_textfile_scrape_error = %s" % err)
    mt = [s for f in fams.values() for s in f.samples
          if s.name == "node_textfile_mtime_seconds" and s.labels.get("file", "").endswith("portgate.prom")]
    check(len(mt) == 1, "no node_textfile_mtime_seconds for portgate.prom")

    check(one("portgate_loaded") == 1, "portgate_loaded != 1")
    check(one("portgate_build_info", version=version) == 1, "portgate_build_info version")

    # reasons: each equals stats -j; the verdict sums equal passed/dropped
    for unit, key in (("packets", "totals"), ("bytes", "bytes")):
        series = samples("portgate_%s_total" % unit)
        check(len(series) == int(nreasons), "portgate_%s_total: %d series, %s reasons"
              % (unit, len(series), nreasons))
        for s in series:
            r = s.labels["reason"]
            check(s.value == stats[key].get(r), "portgate_%s_total{reason=%s} = %s, stats -j .%s.%s = %s"
                  % (unit, r, s.value, key, r, stats[key].get(r)))
            want = "drop" if r in ("blocked", "fragment_short", "fragment_offset1",
                                   "ipv6_chain_too_long") else "pass"
            check(s.labels["verdict"] == want, "reason %s has verdict %s" % (r, s.labels["verdict"]))
        for verdict, total in (("pass", "passed"), ("drop", "dropped")):
            got = sum(s.value for s in series if s.labels["verdict"] == verdict)
            check(got == stats[key][total], "sum of %s %s = %s, stats -j .%s.%s = %s"
                  % (verdict, unit, got, key, total, stats[key][total]))

    # per interface: each series equals stats -j .interfaces[], and summed
    # over the interfaces they are the totals above (no packet counted twice)
    ifaces = stats.get("interfaces", [])
    check(len(ifaces) > 0, "stats -j shows no interface with traffic")
    for unit, key in (("packets", "totals"), ("bytes", "bytes")):
        series = samples("portgate_interface_%s_total" % unit)
        check(len(series) == len(ifaces) * int(nreasons), "portgate_interface_%s_total: %d series, "
              "%d interfaces x %s reasons" % (unit, len(series), len(ifaces), nreasons))
        for i in ifaces:
            idx = str(i["ifindex"] if i["ifindex"] is not None else 0)
            for r, want in i[key].items():
                got = [s.value for s in series
                       if s.labels["ifindex"] == idx and s.labels["reason"] == r]
                if got:
                    check(got == [want] and all(s.labels["interface"] == i["name"] for s in series
                                                if s.labels["ifindex"] == idx),
                          "interface %s %s %s = %s, stats -j %s" % (i["name"], unit, r, got, want))
        for s in samples("portgate_%s_total" % unit):
            r = s.labels["reason"]
            got = sum(x.value for x in series if x.labels["reason"] == r)
            check(got == s.value, "sum over interfaces of %s %s = %s, portgate_%s_total = %s"
                  % (unit, r, got, unit, s.value))

    # rules
    for unit in ("packets", "bytes"):
        check(len(samples("portgate_rule_%s_total" % unit)) == len(stats["rules"]),
              "portgate_rule_%s_total: %d series, %d rules"
              % (unit, len(samples("portgate_rule_%s_total" % unit)), len(stats["rules"])))
    for r in stats["rules"]:
        ports = str(r["port"]) if r["port"] == r["port_end"] else "%d-%d" % (r["port"], r["port_end"])
        lab = dict(dir=r["dir"], proto=r["proto"], ports=ports, action=r["action"])
        for unit in ("packets", "bytes"):
            v = one("portgate_rule_%s_total" % unit, **lab)
            check(v == r[unit], "rule %s: %s %s, stats -j %s" % (lab, unit, v, r[unit]))

    # gauges from status -j
    check(one("portgate_rules") == status["rules"], "portgate_rules")
    check(one("portgate_rules_limit") == status["capacity"]["rules"], "portgate_rules_limit")
    for fam, v in (("ipv4", "v4"), ("ipv6", "v6")):
        check(one("portgate_exemptions", family=fam) == status["exemptions"][v], "exemptions " + fam)
        check(one("portgate_exemptions_limit", family=fam) == status["capacity"]["exemptions_" + v],
              "exemptions_limit " + fam)
    check(one("portgate_attachments") == len(status["interfaces"]), "portgate_attachments")
    check(len(samples("portgate_attachment_info")) == len(status["interfaces"]),
          "portgate_attachment_info series")
    for i in status["interfaces"]:
        v = one("portgate_attachment_info", ifname=i["ifname"], ifindex=str(i["ifindex"]),
                role=i["role"], mode=i["mode"], prog_id=str(i["prog_id"]))
        check(v == 1, "attachment %s" % i["ifname"])

    for f in fails:
        print("FAIL:", f)
    print("%d checks, %d failed, %d portgate families, %d rules, %d interfaces"
          % (checks, len(fails), len(portgate), len(stats["rules"]), len(status["interfaces"])))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
