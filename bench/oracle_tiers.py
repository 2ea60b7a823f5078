#!/usr/bin/env python3
"""The fast oracle tier against MPFR for every registry entry (issue 13: "Every entry: the fast
path at least 50x faster than the MPFR oracle at its bench size"; spec/core.md [CORE-DIFF-TIERS]).

For each entry of `touchstone list` (or the ones named): the inputs at its `bench` size where it
has one, else its largest default (`check`) size (the one whose cpu-f32 answer has the most
values, then the most input values); a float32 answer, touchstone's cpu-f32 outputs
(`touchstone eval --backend cpu-f32`); then `touchstone diff` with the fast tier (the default;
median of --repeats runs) and once with `--oracle mpfr`, each with TOUCHSTONE_THREADS=1 (one core,
so that the ratio depends less on the machine's load), each run capped at --cap CPU seconds
(RLIMIT_CPU, whole seconds, so that the machine's load does not shorten it; and 20 times that of
wall time). The two verdicts must be the same. One row per entry: entry, size, elements, how many
the float64 enclosure settled, the CPU seconds (user + system) of each run, their ratio, both
verdicts, and after them the ratio of the two reports' own timings of the oracle part
(enclosure plus MPFR against MPFR). A capped row gives the ratio as ">= " the CPU seconds MPFR
had used when it was stopped over the fast tier's. An entry whose fast tier is not used (no
float64 CPU backend, or it cannot run) says so. Rows run cheapest first: the entries without a bench size (small check sizes), then
the others, each prepared and measured in turn.

Exit status: 0 when every row's verdicts agree (or the MPFR run was capped), 1 when any two
verdicts differ or a run failed (no report), 2 for bad arguments.

Usage: bench/oracle_tiers.py [NAME|GLOB ...] [--cap S] [--repeats R] [--size S] [--json F]
       (env TOUCHSTONE: the binary, default build/touchstone)
Only the Python standard library is used.
"""
import argparse
import ast
import fnmatch
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def npz_values(path):
    """Number of values (a complex element counts two) per array of an .npz, from the headers."""
    out = {}
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            with z.open(info) as f:
                head = f.read(10)
                major = head[6]
                n = int.from_bytes(head[8:10], "little") if major == 1 else \
                    int.from_bytes(head[8:10] + f.read(2), "little")
                d = ast.literal_eval(f.read(n).decode("latin1"))
            count = 1
            for e in d["shape"]:
                count *= e
            if "c" in d["descr"]:
                count *= 2
            out[info.filename[:-4]] = count
    return out


def run_timed(cmd, cap, env):
    """Run cmd with at most `cap` CPU seconds (RLIMIT_CPU: the machine's load does not shorten
    it) and 20 times that of wall time; returns (rc, or None when stopped at a cap, wall s, CPU s
    of the child, its stderr)."""
    def limit():
        resource.setrlimit(resource.RLIMIT_CPU, (int(cap) + 1, int(cap) + 3))

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=limit)
    try:
        _, err = p.communicate(timeout=20 * cap)
        rc = p.returncode
        if rc in (-signal.SIGXCPU, -signal.SIGKILL):
            rc = None
    except subprocess.TimeoutExpired:
        p.kill()  # this child only, by its pid
        _, err = p.communicate()
        rc = None
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return rc, wall, cpu, err.decode(errors="replace")


def check_output(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def choose_size(ts, entry, work, forced, reuse):
    """(size, label, inputs path, answer path): bench size, else the largest check size."""
    d = os.path.join(work, entry["name"])
    os.makedirs(d, exist_ok=True)

    def make(size):
        inputs = os.path.join(d, f"{size}.inputs.npz")
        theirs = os.path.join(d, f"{size}.theirs.npz")
        if reuse and os.path.exists(inputs) and os.path.exists(theirs):
            return inputs, theirs
        check_output([ts, "generate", entry["name"], "--size", size, "--format", "float32",
                      "--output", inputs])
        check_output([ts, "eval", entry["name"], "--inputs", inputs, "--backend", "cpu-f32",
                      "--output", theirs])
        return inputs, theirs

    if forced:
        return (forced, forced) + make(forced)
    if entry["bench_size"]:
        return ("bench", "bench") + make("bench")
    best = None
    for size in entry["sizes"]:
        inputs, theirs = make(size)
        key = (sum(npz_values(theirs).values()), sum(npz_values(inputs).values()))
        if best is None or key > best[0]:
            best = (key, size, inputs, theirs)
    return best[1], "check:" + best[1], best[2], best[3]


def diff_cmd(ts, name, inputs, theirs, report, oracle):
    return [ts, "diff", name, "--inputs", inputs, "--outputs", theirs, "--json", report,
            "--oracle", oracle]


def measure(ts, name, inputs, theirs, work, cap, repeats, env):
    """One row: the fast tier (median of repeats) and MPFR (once, capped)."""
    row = {"entry": name}
    d = os.path.join(work, name)
    fast_json = os.path.join(d, "fast.json")
    mpfr_json = os.path.join(d, "mpfr.json")
    for path in (fast_json, mpfr_json):
        if os.path.exists(path):
            os.remove(path)
    cpus, walls = [], []
    for _ in range(repeats):
        rc, wall, cpu, err = run_timed(diff_cmd(ts, name, inputs, theirs, fast_json, "fast"), cap, env)
        if rc is None or rc not in (0, 1, 3, 4) or not os.path.exists(fast_json):
            row["error"] = f"fast tier: {'capped' if rc is None else 'exit %s' % rc}: {err.strip()[-300:]}"
            return row
        cpus.append(cpu)
        walls.append(wall)
    fast = json.load(open(fast_json))
    row["fast_cpu_s"] = statistics.median(cpus)
    row["fast_wall_s"] = statistics.median(walls)
    row["fast_verdict"] = fast["verdict"]
    row["elements"] = sum(o["count"] for o in fast["outputs"].values())
    o = fast["oracle"]
    row["enclosed"] = o["elements_enclosed"] if o["tier"] == "fast" else 0
    row["recomputed"] = o["elements_recomputed"]
    row["slices"], row["slices_recomputed"] = o["slices"], o["slices_recomputed"]
    row["fast_tier_used"] = o["tier"] == "fast"
    row["note"] = "" if row["fast_tier_used"] else "fast tier not used: " + o["note"]
    row["fast_seconds"] = o["seconds"]

    rc, wall, cpu, err = run_timed(diff_cmd(ts, name, inputs, theirs, mpfr_json, "mpfr"), cap, env)
    row["mpfr_cpu_s"], row["mpfr_wall_s"] = cpu, wall
    if rc is None:
        row["mpfr_capped"] = True
        row["mpfr_verdict"] = None
    elif rc not in (0, 1, 3, 4) or not os.path.exists(mpfr_json):
        row["error"] = f"mpfr: exit {rc}: {err.strip()[-300:]}"
        return row
    else:
        row["mpfr_capped"] = False
        mpfr = json.load(open(mpfr_json))
        row["mpfr_verdict"] = mpfr["verdict"]
        # The oracle's part alone, as each report times it: the enclosure (cpu-f64 and its bound)
        # plus MPFR on what it left open, against MPFR on everything; the rest (reading, the
        # any-order bound, the baseline) is the same work in both runs.
        fs = fast["oracle"]["seconds"]
        row["oracle_part_ratio"] = mpfr["oracle"]["seconds"]["oracle"] / max(fs["enclosure"] + fs["oracle"], 1e-9)
    row["ratio"] = cpu / max(row["fast_cpu_s"], 1e-9)
    row["same_verdict"] = None if row["mpfr_capped"] else row["mpfr_verdict"] == row["fast_verdict"]
    return row


HEADER = (f"{'entry':<42} {'size':<16} {'elements':>9} {'enclosed':>9} {'fast s':>8} "
          f"{'mpfr s':>9} {'ratio':>9}  verdicts (fast / mpfr)")


def row_text(r):
    if "error" in r:
        return f"{r['entry']:<42} {r.get('size_label', ''):<16} ERROR: {r['error']}"
    ratio = (">= " if r["mpfr_capped"] else "") + f"{r['ratio']:.0f}x"
    mpfr_s = (">" if r["mpfr_capped"] else "") + f"{r['mpfr_cpu_s']:.2f}"
    if r["mpfr_capped"]:
        verdicts = f"{r['fast_verdict']} / (capped at {r['cap']:g} CPU s)"
    else:
        verdicts = f"{r['fast_verdict']} / {r['mpfr_verdict']}" + ("" if r["same_verdict"] else "  DIFFER")
    meets = "" if r["mpfr_capped"] and r["ratio"] < 50 else ("  meets 50x" if r["ratio"] >= 50 else "  below 50x")
    note = f"  ({r['note']})" if r["note"] else ""
    if "oracle_part_ratio" in r:
        note += f"  [oracle part {r['oracle_part_ratio']:.0f}x]"
    return (f"{r['entry']:<42} {r['size_label']:<16} {r['elements']:>9} {r['enclosed']:>9} "
            f"{r['fast_cpu_s']:>8.3f} {mpfr_s:>9} {ratio:>9}  {verdicts}{meets}{note}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="entries or globs (mamba.*); default: all")
    ap.add_argument("--cap", type=float, default=300,
                    help="CPU seconds per run (default 300; and at most 20 times that of wall time)")
    ap.add_argument("--repeats", type=int, default=3, help="fast-tier runs, median (default 3)")
    ap.add_argument("--size", default="", help="this size for every entry (default: bench, else the largest check size)")
    ap.add_argument("--work", default="", help="keep inputs, answers and reports here, and reuse the inputs and answers found there "
                    "(default: a temporary folder)")
    ap.add_argument("--json", default="", help="also write the rows as JSON to this file")
    ap.add_argument("--touchstone", default=os.environ.get("TOUCHSTONE", os.path.join(ROOT, "build", "touchstone")))
    a = ap.parse_args(argv)
    if a.cap <= 0 or a.repeats < 1:
        ap.error("--cap must be positive and --repeats at least 1")
    ts = a.touchstone

    listing = json.loads(check_output([ts, "list", "--json"]))["algorithms"]
    names = [e["name"] for e in listing]
    chosen = names
    if a.names:
        chosen = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in a.names)]
        unmatched = [p for p in a.names if not any(fnmatch.fnmatchcase(n, p) for n in names)]
        if unmatched:
            print(f"oracle_tiers: no entry matches {', '.join(unmatched)}", file=sys.stderr)
            return 2
    env = dict(os.environ, TOUCHSTONE_THREADS="1")
    tmp = None
    work = a.work
    if not work:
        tmp = tempfile.TemporaryDirectory(prefix="oracle_tiers.")
        work = tmp.name
    print(f"# oracle tiers: {len(chosen)} entries, TOUCHSTONE_THREADS=1, runs capped at {a.cap:g} CPU s, "
          f"fast tier median of {a.repeats}; seconds are CPU (user + system) of the `touchstone diff` process; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", flush=True)

    # Cheapest first without making anything: the entries without a bench size (their check sizes
    # are small, for CI), then the others; each row is prepared and measured in turn, so that a
    # long run prints rows as it goes.
    entries = [json.loads(check_output([ts, "list", n, "--json"]))["algorithms"][0] for n in chosen]
    entries.sort(key=lambda e: bool(e["bench_size"]) and not a.size)
    print(HEADER, flush=True)
    rows = []
    for entry in entries:
        name = entry["name"]
        r = {"entry": name, "size_label": ""}
        if not any(b["name"] == "cpu-f32" for b in entry["backends"]):
            r["error"] = "no cpu-f32 backend to make a float32 answer"
        else:
            try:
                size, label, inputs, theirs = choose_size(ts, entry, work, a.size, bool(a.work))
                r = measure(ts, name, inputs, theirs, work, a.cap, a.repeats, env)
                r.update(size=size, size_label=label, cap=a.cap)
            except RuntimeError as e:
                r["error"] = str(e)
        rows.append(r)
        print(row_text(r), flush=True)
        if a.json:  # after every row, so that a stopped run keeps what it measured
            with open(a.json, "w") as f:
                json.dump({"cap_s": a.cap, "repeats": a.repeats, "rows": rows}, f, indent=1)

    done = [r for r in rows if "error" not in r]
    differ = [r["entry"] for r in done if r["same_verdict"] is False]
    errors = [r["entry"] for r in rows if "error" in r]
    meets = [r["entry"] for r in done if r["ratio"] >= 50]
    below = [r["entry"] for r in done if r["ratio"] < 50 and not r["mpfr_capped"]]
    undecided = [r["entry"] for r in done if r["ratio"] < 50 and r["mpfr_capped"]]
    capped = [r["entry"] for r in done if r["mpfr_capped"]]
    print(f"# {len(meets)} of {len(rows)} meet 50x; below: {', '.join(below) or 'none'}; "
          f"capped below 50x (undecided): {', '.join(undecided) or 'none'}; "
          f"MPFR capped (verdict not compared): {', '.join(capped) or 'none'}; "
          f"verdicts differ: {', '.join(differ) or 'none'}; errors: {', '.join(errors) or 'none'}", flush=True)
    return 1 if differ or errors else 0


if __name__ == "__main__":
    sys.exit(main())
