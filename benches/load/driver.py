#!/usr/bin/env python3
"""Load comparison driver for Portcullis (benches/LOAD.md). Started by
benches/load/run after the release build; loopback only.

Layout on a 2-CPU box: CPU 0 runs wrk and the upstream nginx (a 128-byte
file, and `/auth` -> 204 for nginx + auth_request); CPU 1 runs every proxy
under test, each with one worker thread. Idle peers stay idle.

Per run: a 1 s warm-up (discarded), then `wrk -t1 -c32 -dDs --latency`.
Measured: req/s, p50/p99 (wrk, closed loop), CPU µs per request of the proxy
(utime+stime of its process tree from /proc/<pid>/stat, delta over the run,
divided by requests completed) and of the upstream, RSS (VmRSS) after the
run, and foreign CPU (busy time of both CPUs from /proc/stat minus the
proxy, the upstream and wrk). Peers are interleaved within each round; the
figures are medians of the rounds.

Every loop is bounded in count and time; every process started here is
stopped here, by pid.
"""

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import http.client
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
BIN = os.path.join(REPO, "target", "release")
GEOIP_DB = os.path.join(REPO, "deploy", "quickstart", "geoip", "GeoIP2-Country-Test.mmdb")
CLK_TCK = os.sysconf("SC_CLK_TCK")
CONNS = 32

# Client addresses placed by MaxMind's GeoIP2-Country-Test.mmdb
# (GB, US, SE, JP); sent as a trusted X-Forwarded-For.
XFF = ["81.2.69.142", "216.160.83.56", "89.160.20.112", "2001:218::1", "81.2.69.160",
       "89.160.20.128"]
UA_DESKTOP = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
]
UA_ANDROID = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
ACCEPT_HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

PROCS = []  # (name, Popen) started here, stopped in cleanup()


def log(msg):
    print(msg, flush=True)


# ------------------------------------------------------------------ procfs

def read_cpu_lines():
    """{'cpu': busy_jiffies, 'cpu0': ..., ...} and total jiffies per line."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if not line.startswith("cpu"):
                break
            parts = line.split()
            vals = [int(v) for v in parts[1:]]
            idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
            total = sum(vals[:8])
            out[parts[0]] = (total - idle, total)
    return out


def children(pid):
    kids = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    kids += [int(x) for x in f.read().split()]
            except OSError:
                pass
    except OSError:
        pass
    return kids


def tree(pid):
    seen, todo = [], [pid]
    while todo and len(seen) < 64:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        todo += children(p)
    return seen


def proc_jiffies(pid):
    """utime+stime of a process tree (all threads), in jiffies."""
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
            total += int(rest[11]) + int(rest[12])
        except (OSError, IndexError, ValueError):
            pass
    return total


def rss_kib(pid):
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def idle_busy_share(seconds=0.5):
    """Busy share of all CPUs (in cores) over a short idle window."""
    a = read_cpu_lines()["cpu"]
    time.sleep(seconds)
    b = read_cpu_lines()["cpu"]
    ncpu = os.cpu_count() or 1
    dt = b[1] - a[1]
    return 0.0 if dt <= 0 else (b[0] - a[0]) / dt * ncpu


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    with open("/proc/loadavg") as f:
        load = f.read().strip()
    rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    def ver(cmd):
        r = subprocess.run(cmd, capture_output=True, text=True)
        return (r.stdout + r.stderr).strip().splitlines()[0] if (r.stdout + r.stderr).strip() else "?"
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "kernel": os.uname().release,
        "loadavg_at_start": load,
        "git": rev,
        "nginx": ver(["nginx", "-v"]),
        "haproxy": ver(["haproxy", "-v"]),
        "wrk": ver(["wrk", "--version"]),
    }


# --------------------------------------------------------------- processes

def start(name, argv, cpu, log_path, env=None):
    e = dict(os.environ)
    if env:
        e.update(env)
    f = open(log_path, "ab")
    p = subprocess.Popen(["taskset", "-c", str(cpu)] + argv, stdout=f, stderr=f,
                         stdin=subprocess.DEVNULL, env=e, start_new_session=True)
    f.close()
    PROCS.append((name, p))
    return p


def stop(p, sig=signal.SIGTERM):
    if p.poll() is not None:
        return
    try:
        p.send_signal(sig)
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=5)
    except ProcessLookupError:
        pass


def cleanup():
    for name, p in reversed(PROCS):
        # nginx stops at once on SIGTERM, Pingora on SIGINT; HAProxy on SIGTERM.
        stop(p, signal.SIGINT if name.startswith(("portcullis", "pingora")) else signal.SIGTERM)
    PROCS.clear()


def get(port, path="/", host="x", headers=None, timeout=3):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        h = {"Host": host}
        h.update(headers or {})
        c.request("GET", path, headers=h)
        r = c.getresponse()
        body = r.read()
        return r.status, body, dict(r.getheaders())
    finally:
        c.close()


def wait_http(port, path="/", host="x", want=None, seconds=30):
    deadline = time.time() + seconds
    last = None
    while time.time() < deadline:
        try:
            st, _, _ = get(port, path, host, timeout=1)
            if want is None or st == want:
                return True
            last = st
        except OSError as e:
            last = e
        time.sleep(0.2)
    raise RuntimeError(f"127.0.0.1:{port}{path} not ready: {last}")


# ------------------------------------------------------------------ config

def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def nginx_upstream_conf(d, port):
    return f"""worker_processes 1;
pid {d}/up.pid;
error_log {d}/up-error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  open_file_cache max=16 inactive=60s; open_file_cache_valid 60s;
  client_body_temp_path {d}/up-tmp/body; proxy_temp_path {d}/up-tmp/proxy;
  fastcgi_temp_path {d}/up-tmp/fcgi; uwsgi_temp_path {d}/up-tmp/uwsgi; scgi_temp_path {d}/up-tmp/scgi;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    root {d}/www;
    location = /auth {{ return 204; }}
    location / {{ default_type text/plain; try_files /blob.txt =404; }}
  }}
}}
"""


def nginx_proxy_conf(d, up, ngx, nauth):
    proxied = ("proxy_pass http://up; proxy_http_version 1.1; "
               "proxy_set_header Connection \"\";")
    return f"""worker_processes 1;
pid {d}/px.pid;
error_log {d}/px-error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  client_body_temp_path {d}/px-tmp/body; proxy_temp_path {d}/px-tmp/proxy;
  fastcgi_temp_path {d}/px-tmp/fcgi; uwsgi_temp_path {d}/px-tmp/uwsgi; scgi_temp_path {d}/px-tmp/scgi;
  upstream up {{ server 127.0.0.1:{up}; keepalive 512; keepalive_requests 10000000; }}
  # nginx proxy_pass, keep-alive to the upstream
  server {{
    listen 127.0.0.1:{ngx} backlog=4096;
    location / {{ {proxied} }}
  }}
  # nginx + auth_request: a subrequest to the upstream's trivial 204 endpoint
  server {{
    listen 127.0.0.1:{nauth} backlog=4096;
    location = /_auth {{
      internal;
      proxy_pass http://up/auth; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_pass_request_body off; proxy_set_header Content-Length "";
    }}
    location / {{ auth_request /_auth; {proxied} }}
  }}
}}
"""


def haproxy_conf(d, up, port):
    return f"""global
  nbthread 1
  maxconn 4096
  pidfile {d}/haproxy.pid
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
  http-reuse always
frontend f
  bind 127.0.0.1:{port}
  default_backend b
backend b
  server s1 127.0.0.1:{up} maxconn 2048
"""


W1_RULES = """# W1: ten policies (GeoIP, platform, groups, domains, paths, client apps,
# report-only, disabled). For the bench member with an MFA session on a
# desktop browser from GB/US/SE/JP every one is evaluated and the answer is
# allow; an Android user agent is blocked (W6).
named_locations:
  - name: offices
    ip_ranges: [203.0.113.0/24, "2001:db8:10::/48"]
    trusted: true
  - name: embargoed
    countries: [KP, IR, SY, CU]
  - name: allowed-countries
    countries: [GB, US, SE, JP, DE, FR]
  - name: unplaceable
    countries: [unknown]
policies:
  - name: block-embargoed-countries
    users: { include: [all] }
    apps: { include: [all] }
    locations: { include: [embargoed] }
    grant: block
  - name: only-allowed-countries
    users: { include: [all] }
    apps: { include: [all] }
    locations: { include: [all], exclude: [allowed-countries, trusted] }
    grant: block
  - name: guests-need-mfa
    users: { include: [guests], exclude: ["group:break-glass"] }
    apps: { include: [all] }
    grant: { require: [mfa] }
    session: { sign_in_frequency: 12h }
  - name: members-mfa-outside-offices
    users: { include: [members] }
    apps: { include: [all] }
    locations: { include: [all], exclude: [trusted] }
    grant: { require: [mfa], operator: any }
    session: { sign_in_frequency: 7d }
  - name: no-phones
    users: { include: [all] }
    apps: { include: [all] }
    platforms: { include: [android, ios] }
    grant: block
  - name: linux-report-only
    state: report_only
    users: { include: [all], exclude: ["group:engineering"] }
    apps: { include: [all] }
    platforms: { include: [linux, chromeos] }
    grant: block
  - name: contractors-need-mfa
    users: { include: ["group:contractors"] }
    apps: { include: [all] }
    grant: { require: [mfa] }
  - name: admin-writes-need-mfa
    users: { include: [all] }
    apps: { include: [all] }
    paths: { include: ["/admin/*"], exclude: ["/admin/help"] }
    methods: [POST, PUT, PATCH, DELETE]
    grant: { require: [mfa] }
  - name: no-api-from-unplaceable
    users: { include: ["domain:contoso.com"] }
    apps: { include: [all] }
    client_apps: { include: [api] }
    locations: { include: [unplaceable] }
    grant: block
  - name: old-rule
    state: disabled
    users: { include: [all] }
    apps: { include: [all] }
    grant: block
"""

W2_APPS = 100  # 10 hosts x 10 path prefixes, 10 policies each = 1,000 policies


def w2_rules():
    out = ["# W2: 1,000 policies, ten per app over 100 apps (10 hosts x 10 path",
           "# prefixes), the W1 shapes scoped to each app.",
           "named_locations:",
           "  - { name: offices, ip_ranges: [203.0.113.0/24], trusted: true }",
           "  - { name: embargoed, countries: [KP, IR, SY, CU] }",
           "  - { name: allowed-countries, countries: [GB, US, SE, JP, DE, FR] }",
           "  - { name: unplaceable, countries: [unknown] }",
           "policies:"]
    for k in range(W2_APPS):
        a = f"a{k}"
        p = [
            f"{{ name: {a}-embargo, users: {{ include: [all] }}, apps: {{ include: [{a}] }}, locations: {{ include: [embargoed] }}, grant: block }}",
            f"{{ name: {a}-countries, users: {{ include: [all] }}, apps: {{ include: [{a}] }}, locations: {{ include: [all], exclude: [allowed-countries, trusted] }}, grant: block }}",
            f"{{ name: {a}-guests-mfa, users: {{ include: [guests] }}, apps: {{ include: [{a}] }}, grant: {{ require: [mfa] }} }}",
            f"{{ name: {a}-members-mfa, users: {{ include: [members] }}, apps: {{ include: [{a}] }}, locations: {{ include: [all], exclude: [trusted] }}, grant: {{ require: [mfa] }} }}",
            f"{{ name: {a}-no-phones, users: {{ include: [all] }}, apps: {{ include: [{a}] }}, platforms: {{ include: [android, ios] }}, grant: block }}",
            f"{{ name: {a}-linux-ro, state: report_only, users: {{ include: [all] }}, apps: {{ include: [{a}] }}, platforms: {{ include: [linux] }}, grant: block }}",
            f"{{ name: {a}-team, users: {{ include: [\"group:team-{k}\"] }}, apps: {{ include: [{a}] }}, grant: {{ require: [mfa] }} }}",
            f"{{ name: {a}-admin-writes, users: {{ include: [all] }}, apps: {{ include: [{a}] }}, paths: {{ include: [\"/admin/*\"] }}, methods: [POST, PUT, DELETE], grant: {{ require: [mfa] }} }}",
            f"{{ name: {a}-contoso-api, users: {{ include: [\"domain:contoso.com\"] }}, apps: {{ include: [{a}] }}, client_apps: {{ include: [api] }}, grant: block }}",
            f"{{ name: {a}-old, state: disabled, users: {{ include: [all] }}, apps: {{ include: [{a}] }}, grant: block }}",
        ]
        out += [f"  - {x}" for x in p]
    return "\n".join(out) + "\n"


def w2_targets():
    """(host, path prefix, app name) for the 100 W2 apps."""
    return [(f"w2-{k // 10}.bench", f"/p{k % 10}", f"a{k}") for k in range(W2_APPS)]


def portcullis_conf(d, inst, port, admin, up, workload_rules):
    apps = [
        f"  - {{ name: w0, hosts: [w0.bench], upstreams: [127.0.0.1:{up}], public_paths: [/public/] }}",
        f"  - {{ name: w1, hosts: [w1.bench], upstreams: [127.0.0.1:{up}] }}",
    ]
    if workload_rules == "w2":
        for host, prefix, name in w2_targets():
            apps.append(f"  - {{ name: {name}, hosts: [{host}], path_prefix: {prefix}, upstreams: [127.0.0.1:{up}] }}")
    rules = os.path.join(d, f"rules-{workload_rules}.yaml")
    return f"""# generated by benches/load/driver.py ({workload_rules})
listen: {{ http: 127.0.0.1:{port} }}
admin: {{ address: 127.0.0.1:{admin} }}
trusted_proxies: [127.0.0.0/8]
geoip: {{ country_db: {GEOIP_DB} }}
rules: ["{rules}"]
store: {{ sqlite: {d}/{inst}/var/portcullis.db }}
organisation: {{ name: Bench, member_domains: [tailwindtraders.com] }}
server: {{ threads: 1, grace_period: 1s }}
apps:
""" + "\n".join(apps) + "\n"


LUA_COMMON = r"""
-- Prints one machine-readable line for the driver.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKRESULT %d %d %d %d %d %d %d %d %d %d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout, latency.max))
end
"""

LUA_ROTATE = r"""
-- Rotates requests over a targets file (host<TAB>path<TAB>cookie, "-" for
-- none), X-Forwarded-For values and User-Agents, with co-prime strides so
-- the combinations vary. LOAD_OFFSET/LOAD_COUNT select a slice of the
-- targets (W3: every request a token the gateway has not seen).
local function lines(path)
  local t = {}
  if path and path ~= "" then
    for l in io.lines(path) do if l ~= "" then t[#t + 1] = l end end
  end
  return t
end
local targets = {}
do
  local all = lines(os.getenv("LOAD_TARGETS"))
  local off = tonumber(os.getenv("LOAD_OFFSET") or "0")
  local cnt = tonumber(os.getenv("LOAD_COUNT") or tostring(#all))
  for i = off + 1, math.min(off + cnt, #all) do
    local h, p, c = all[i]:match("^([^\t]*)\t([^\t]*)\t([^\t]*)$")
    targets[#targets + 1] = { h, p, c }
  end
end
local xff = lines(os.getenv("LOAD_XFF"))
local uas = lines(os.getenv("LOAD_UA"))
local i, j, k = 0, 0, 0
local base = {}
for n, v in pairs(wrk.headers) do base[n] = v end

function request()
  i = i % #targets + 1
  local t = targets[i]
  local h = {}
  for n, v in pairs(base) do h[n] = v end
  h["Host"] = t[1]
  if t[3] ~= "-" then h["Cookie"] = "portcullis_session=" .. t[3] end
  if #xff > 0 then j = j % #xff + 1; h["X-Forwarded-For"] = xff[j] end
  if #uas > 0 then k = k % #uas + 1; h["User-Agent"] = uas[k] end
  return wrk.format("GET", t[2], h)
end
""" + LUA_COMMON


# --------------------------------------------------------------- the bench

# The gateway's instances: the one measured, the one with its access log
# off, the one with its decision log off (--decision-log-ab).
PORTCULLIS_PEERS = ("portcullis", "portcullis-nolog", "portcullis-nodl")


class Bench:
    def __init__(self, args):
        self.args = args
        self.d = tempfile.mkdtemp(prefix="portcullis-load-")
        os.chmod(self.d, 0o755)  # nginx workers run as nobody
        base = random.randrange(20000, 31000, 20)
        self.port = {
            "up": base, "pingora-pass": base + 1, "nginx": base + 2, "haproxy": base + 3,
            "nginx+auth_request": base + 4, "portcullis": base + 5, "portcullis-admin": base + 6,
            "portcullis-nolog": base + 7, "portcullis-nolog-admin": base + 8,
            "portcullis-nodl": base + 9, "portcullis-nodl-admin": base + 10,
        }
        self.pids = {}
        self.deadline = time.time() + args.budget
        self.wait_budget = args.wait_budget
        self.rows = []
        self.pc_conf = None
        self.notes = []

    # -- setup
    def setup(self):
        d = self.d
        os.makedirs(f"{d}/www")
        for sub in ("up-tmp", "px-tmp", "pc-a", "pc-b", "logs"):
            os.makedirs(f"{d}/{sub}")
        write(f"{d}/www/blob.txt", ("portcullis load bench " * 8)[:127] + "\n")
        for f in os.listdir(f"{d}/www"):
            os.chmod(f"{d}/www/{f}", 0o644)
        write(f"{d}/up.conf", nginx_upstream_conf(d, self.port["up"]))
        write(f"{d}/px.conf", nginx_proxy_conf(d, self.port["up"], self.port["nginx"],
                                               self.port["nginx+auth_request"]))
        write(f"{d}/haproxy.cfg", haproxy_conf(d, self.port["up"], self.port["haproxy"]))
        write(f"{d}/rules-w0.yaml", "# W0: no policy\npolicies: []\n")
        write(f"{d}/rules-w1.yaml", W1_RULES)
        write(f"{d}/rules-w2.yaml", w2_rules())
        write(f"{d}/rotate.lua", LUA_ROTATE)
        write(f"{d}/stats.lua", LUA_COMMON)
        write(f"{d}/xff.txt", "\n".join(XFF) + "\n")
        write(f"{d}/ua.txt", "\n".join(UA_DESKTOP) + "\n")
        self.mint()

        up = start("upstream", ["nginx", "-p", d, "-e", f"{d}/up-error.log", "-c", f"{d}/up.conf",
                                "-g", "daemon off;"], 0, f"{d}/up.out")
        self.pids["up"] = up.pid
        wait_http(self.port["up"], want=200)
        st, body, _ = get(self.port["up"])
        assert st == 200 and len(body) == 128, (st, len(body))
        peers = set(p for w in self.plan() for p in w["peers"])
        if "pingora-pass" in peers:
            p = start("pingora-pass", [f"{BIN}/pingora-pass", f"127.0.0.1:{self.port['pingora-pass']}",
                                       f"127.0.0.1:{self.port['up']}", "1"], 1, f"{d}/pass.out")
            self.pids["pingora-pass"] = p.pid
        if peers & {"nginx", "nginx+auth_request"}:
            p = start("nginx-proxy", ["nginx", "-p", d, "-e", f"{d}/px-error.log", "-c", f"{d}/px.conf",
                                      "-g", "daemon off;"], 1, f"{d}/px.out")
            self.pids["nginx"] = self.pids["nginx+auth_request"] = p.pid
        if "haproxy" in peers:
            p = start("haproxy", ["haproxy", "-db", "-f", f"{d}/haproxy.cfg"], 1, f"{d}/haproxy.out")
            self.pids["haproxy"] = p.pid
        self.pids["direct"] = self.pids["up"]
        for name in ("pingora-pass", "nginx", "nginx+auth_request", "haproxy"):
            if name in self.pids:
                wait_http(self.port[name], want=200)
                st, body, _ = get(self.port[name])
                assert st == 200 and len(body) == 128, (name, st, len(body))

    def mint(self):
        d = self.d
        mint = f"{BIN}/mint-cookie"
        # Beside the config's folder, as in the default layout (var/): in
        # the config's own folder every WAL write woke the reload watcher.
        db = f"{d}/pc-a/var/portcullis.db"
        os.makedirs(f"{d}/pc-a/var", exist_ok=True)
        os.makedirs(f"{d}/pc-b/var", exist_ok=True)

        def run(args, out):
            with open(out, "w") as f:
                subprocess.run([mint, "--db", db, "--mfa"] + args, stdout=f, check=True, timeout=600)
            with open(out) as f:
                return [l.rstrip("\n").split("\t") for l in f if l.strip()]
        self.tok = {}
        self.tok["w0"] = run(["--host", "w0.bench"], f"{d}/tok-w0.txt")[0][1]
        self.tok["w1"] = run(["--host", "w1.bench"], f"{d}/tok-w1.txt")[0][1]
        w2 = run([x for h in range(10) for x in ("--host", f"w2-{h}.bench")] + ["--tokens", "10"],
                 f"{d}/tok-w2.txt")
        by_host = {h: t for h, t in w2}
        write(f"{d}/targets-w0.txt", f"w0.bench\t/\t{self.tok['w0']}\n")
        write(f"{d}/targets-w1.txt", f"w1.bench\t/\t{self.tok['w1']}\n")
        write(f"{d}/targets-w2.txt", "".join(
            f"{h}\t{p}/index.html\t{by_host[h]}\n" for h, p, _ in w2_targets()))
        if any(w["id"] == "W3" for w in self.plan()):
            n = self.args.w3_tokens
            t0 = time.time()
            toks = run(["--host", "w0.bench", "--users", str(self.args.w3_users), "--tokens", str(n)],
                       f"{d}/tok-w3.txt")
            write(f"{d}/targets-w3.txt", "".join(f"{h}\t/\t{t}\n" for h, t in toks))
            self.notes.append(f"W3: minted {n} distinct session tokens for {self.args.w3_users} users "
                              f"in {time.time() - t0:.1f} s")
        shutil.copy(db, f"{d}/pc-b/var/portcullis.db")

    def start_portcullis(self, rules):
        if self.pc_conf == rules:
            return
        self.stop_portcullis()
        d = self.d
        # The second instance: the access log off, or with
        # --decision-log-ab the decision log off (the same build and config
        # otherwise, interleaved with the first in every round).
        second = (("pc-b", "portcullis-nodl", {}) if self.args.decision_log_ab
                  else ("pc-b", "portcullis-nolog", {"RUST_LOG": "warn"}))
        for inst, name, env in (("pc-a", "portcullis", {}), second):
            if name != "portcullis" and not any(name in w["peers"] for w in self.plan()):
                continue
            text = portcullis_conf(d, inst, self.port[name], self.port[name + "-admin"],
                                   self.port["up"], rules)
            if self.args.no_decision_log or name == "portcullis-nodl":
                text += "decision_log: { max_entries: 0 }\n"
            conf = write(f"{d}/{inst}/portcullis.yaml", text)
            env = dict(env)
            env.setdefault("RUST_LOG", "info")
            if self.args.preload:
                # Another malloc for the gateway alone (the allocator
                # comparison in LOAD.md); the peers keep glibc's.
                env["LD_PRELOAD"] = self.args.preload
            # stderr (JSON logs, one access line per request) goes to a file
            # in the temporary folder, truncated after each run. Not beside the
            # config: the gateway watches the config's folder for changes, and
            # a log written there wakes that watcher on every write.
            p = start(name, [f"{BIN}/portcullis", "serve", "--config", conf], 1, f"{d}/logs/{inst}.stderr.log", env)
            self.pids[name] = p.pid
        for name in PORTCULLIS_PEERS:
            if name in self.pids and self.alive(name):
                wait_http(self.port[name + "-admin"], "/readyz", want=200)
        self.pc_conf = rules
        self.rss_idle = {n: rss_kib(self.pids[n]) for n in PORTCULLIS_PEERS if n in self.pids}

    def alive(self, name):
        return os.path.exists(f"/proc/{self.pids[name]}")

    def stop_portcullis(self):
        for name, p in list(PROCS):
            if name.startswith("portcullis"):
                stop(p, signal.SIGINT)
                PROCS.remove((name, p))
                self.pids.pop(name, None)
        self.pc_conf = None

    def verifications(self, name):
        try:
            st, body, _ = get(self.port[name + "-admin"], "/metrics")
        except OSError:
            return None
        n = 0
        for line in body.decode().splitlines():
            if line.startswith("portcullis_token_verifications_total") and 'kind="cookie"' in line:
                n += float(line.rsplit(" ", 1)[1])
        return n

    def smoke_verdict(self, limit, limit_w1):
        """0 when W0's median Portcullis CPU/req is within `limit` x pingora-pass's and W1's
        within `limit_w1` x (or the runs were too noisy to judge), else 1."""
        def med(xs):
            xs = sorted(xs)
            return xs[len(xs) // 2] if xs else None
        status = 0
        for wl in sorted({r["workload"] for r in self.rows}):
            rows = [r for r in self.rows if r["workload"] == wl and r["mode"] == "keep-alive"]
            pc = med([r["cpu_us_per_req"] for r in rows if r["peer"] == "portcullis" and r["cpu_us_per_req"]])
            pp = med([r["cpu_us_per_req"] for r in rows if r["peer"] == "pingora-pass" and r["cpu_us_per_req"]])
            noisy = med([r["foreign_cores"] for r in rows]) or 0
            if pc is None or pp is None:
                log(f"load smoke: {wl}: no measurement")
                status = 1
                continue
            ratio = pc / pp
            limit = limit_w1 if wl == "W1" else limit
            if ratio <= limit:
                log(f"load smoke: {wl}: {pc:.1f} vs {pp:.1f} us/req = {ratio:.2f}x (limit {limit}x): ok")
            elif noisy > 0.5:
                log(f"load smoke: {wl}: {ratio:.2f}x over the limit, but {noisy:.2f} foreign cores were busy; not judged")
            else:
                log(f"load smoke: {wl}: {pc:.1f} vs {pp:.1f} us/req = {ratio:.2f}x exceeds {limit}x: FAILED")
                status = 1
        return status

    # -- the plan
    def plan(self):
        if hasattr(self, "_plan"):
            return self._plan
        q = self.args.quick
        allp = ["direct", "pingora-pass", "nginx", "haproxy", "nginx+auth_request", "portcullis"]
        W = []
        def add(id_, mode, rules, peers, spec, expect, note):
            W.append({"id": id_, "mode": mode, "rules": rules, "peers": peers, "spec": spec,
                      "expect": expect, "note": note})
        w0 = {"static": {"Host": "w0.bench", "Cookie": f"portcullis_session={{w0}}",
                         "User-Agent": UA_DESKTOP[0], "Accept": ACCEPT_HTML}}
        w1 = {"targets": "targets-w1.txt", "xff": True, "ua": True, "headers": {"Accept": ACCEPT_HTML}}
        w2 = {"targets": "targets-w2.txt", "xff": True, "ua": True, "headers": {"Accept": ACCEPT_HTML}}
        w3 = {"targets": "targets-w3.txt", "slice": True, "headers": {"User-Agent": UA_DESKTOP[0], "Accept": ACCEPT_HTML}}
        w5 = {"static": {"Host": "w1.bench", "User-Agent": UA_DESKTOP[0], "Accept": ACCEPT_HTML,
                         "X-Forwarded-For": XFF[0]}}
        w6 = {"static": {"Host": "w1.bench", "Cookie": f"portcullis_session={{w1}}", "User-Agent": UA_ANDROID,
                         "Accept": ACCEPT_HTML, "X-Forwarded-For": XFF[0]}}
        w0pub = {"static": {"Host": "w0.bench", "User-Agent": UA_DESKTOP[0], "Accept": ACCEPT_HTML},
                 "path": "/public/index.html"}
        # With --decision-log-ab, keep-alive W0 and W1 also run the gateway
        # with its decision log off (issue 18's budget: the log's cost).
        ab = ["portcullis-nodl"] if self.args.decision_log_ab else []
        if q:
            add("W0", "keep-alive", "w0", ["pingora-pass", "portcullis"] + ab, w0, 200,
                "member session (cached), no policy")
            add("W1", "keep-alive", "w1", ["pingora-pass", "portcullis"] + ab, w1, 200,
                "10 policies, cached session, platform, GeoIP via XFF")
        else:
            add("W0", "keep-alive", "w0", allp + (ab or ["portcullis-nolog"]), w0, 200,
                "member session (cached), no policy")
            add("W0", "close", "w0", allp, w0, 200, "member session (cached), no policy")
            add("W0-public", "keep-alive", "w0", ["portcullis"], w0pub, 200,
                "public path, no session, no policy")
            add("W3", "keep-alive", "w0", ["portcullis"], w3, 200,
                "a new token per request (cold verify), no policy")
            add("W1", "keep-alive", "w1", ["pingora-pass", "nginx", "nginx+auth_request", "portcullis"]
                + (ab or ["portcullis-nolog"]), w1, 200,
                "10 policies, cached session, platform, GeoIP via XFF")
            add("W1", "close", "w1", ["pingora-pass", "nginx+auth_request", "portcullis"], w1, 200,
                "10 policies, cached session, platform, GeoIP via XFF")
            add("W5", "keep-alive", "w1", ["portcullis"], w5, 302, "no cookie, Accept text/html -> 302")
            add("W5", "close", "w1", ["portcullis"], w5, 302, "no cookie, Accept text/html -> 302")
            add("W6", "keep-alive", "w1", ["portcullis"], w6, 403, "Android UA hits a block policy -> 403")
            add("W6", "close", "w1", ["portcullis"], w6, 403, "Android UA hits a block policy -> 403")
            add("W2", "keep-alive", "w2", ["pingora-pass", "portcullis"], w2, 200,
                "1,000 policies over 100 apps (10 hosts x 10 prefixes)")
        # Open loop (issue 21): `pace` sends at a constant rate and measures
        # each latency from its request's due time.
        if self.args.open_rate:
            mode = f"open {self.args.open_rate / 1000:g}k/s"
            peers = ["pingora-pass", "portcullis"] if q else ["pingora-pass", "nginx", "portcullis"]
            add("W0", mode, "w0", peers + ab, w0, 200, "member session (cached), no policy; constant rate")
            add("W1", mode, "w1", peers + ab, w1, 200,
                "10 policies, cached session, platform, GeoIP via XFF; constant rate")
        if self.args.only:
            keep = set(self.args.only.split(","))
            W = [w for w in W if w["id"] in keep]
        self._plan = W
        return W

    # -- one run
    def wrk_argv(self, w, peer, seconds, warm=False, rnd=0):
        spec = w["spec"]
        d = self.d
        env = {}
        args = ["wrk", "-t1", f"-c{CONNS}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
        hdrs = {}
        if "static" in spec:
            for k, v in spec["static"].items():
                hdrs[k] = v.format(**self.tok) if "{" in v else v
            script = f"{d}/stats.lua"
        else:
            hdrs.update(spec.get("headers", {}))
            script = f"{d}/rotate.lua"
            env["LOAD_TARGETS"] = f"{d}/{spec['targets']}"
            if spec.get("xff"):
                env["LOAD_XFF"] = f"{d}/xff.txt"
            if spec.get("ua"):
                env["LOAD_UA"] = f"{d}/ua.txt"
            if spec.get("slice"):
                if warm:  # warm up on the cached W0 session, not on fresh tokens
                    env["LOAD_TARGETS"] = f"{d}/targets-w0.txt"
                else:
                    per = self.args.w3_tokens // self.args.rounds
                    env["LOAD_OFFSET"] = str(rnd * per)
                    env["LOAD_COUNT"] = str(per)
        if w["mode"] == "close":
            hdrs["Connection"] = "close"
        for k, v in hdrs.items():
            args += ["-H", f"{k}: {v}"]
        args += ["-s", script, f"http://127.0.0.1:{self.port['up' if peer == 'direct' else peer]}{spec.get('path', '/')}"]
        return ["taskset", "-c", "0"] + args, env

    def pace_argv(self, w, peer, seconds):
        """`pace` at --open-rate for `seconds` (1 s of warm-up inside)."""
        spec = w["spec"]
        d = self.d
        args = [f"{BIN}/pace", "--port", str(self.port["up" if peer == "direct" else peer]),
                "--rate", str(self.args.open_rate), "--duration", str(seconds), "--warmup", "1",
                "--connections", str(CONNS)]
        if "static" in spec:
            for k, v in spec["static"].items():
                args += ["--header", f"{k}: {v.format(**self.tok) if '{' in v else v}"]
            args += ["--path", spec.get("path", "/")]
        else:
            for k, v in spec.get("headers", {}).items():
                args += ["--header", f"{k}: {v}"]
            args += ["--targets", f"{d}/{spec['targets']}"]
            if spec.get("xff"):
                args += ["--xff", f"{d}/xff.txt"]
            if spec.get("ua"):
                args += ["--ua", f"{d}/ua.txt"]
        return ["taskset", "-c", "0"] + args

    def check_quiet(self):
        """Waits (bounded) while something else keeps the CPUs busy."""
        busy = idle_busy_share(0.5)
        waited = 0.0
        while busy > self.args.max_idle_busy and self.wait_budget > 0 and waited < 60:
            time.sleep(2)
            waited += 2.5
            self.wait_budget -= 2.5
            busy = idle_busy_share(0.5)
        return busy, waited

    def sanity(self, w, peer):
        spec = w["spec"]
        port = self.port["up" if peer == "direct" else peer]
        if "static" in spec:
            h = {k: (v.format(**self.tok) if "{" in v else v) for k, v in spec["static"].items()}
            host = h.pop("Host")
            path = spec.get("path", "/")
        else:
            with open(f"{self.d}/{'targets-w0.txt' if spec.get('slice') else spec['targets']}") as f:
                hh, path, c = f.readline().rstrip("\n").split("\t")
            host = hh
            h = dict(spec.get("headers", {}))
            if c != "-":
                h["Cookie"] = f"portcullis_session={c}"
            if spec.get("xff"):
                h["X-Forwarded-For"] = XFF[0]
            if spec.get("ua"):
                h["User-Agent"] = UA_DESKTOP[0]
        st, body, hdr = get(port, path, host, h)
        want = w["expect"] if peer.startswith("portcullis") else 200
        if st != want or (want == 200 and len(body) != 128):
            raise RuntimeError(f"{w['id']} via {peer}: status {st}, {len(body)} bytes "
                               f"(want {want}); {body[:200]!r}")

    def run_one(self, w, peer, rnd):
        pid = self.pids[peer]
        if not os.path.exists(f"/proc/{pid}"):
            raise RuntimeError(f"{peer} (pid {pid}) is not running")
        busy_before, waited = self.check_quiet()
        open_loop = w["mode"].startswith("open")
        if open_loop:
            argv, env = self.pace_argv(w, peer, self.args.duration), {}
        else:
            argv, env = self.wrk_argv(w, peer, 1, warm=True)
            subprocess.run(argv, env={**os.environ, **env}, capture_output=True, timeout=30)
            argv, env = self.wrk_argv(w, peer, self.args.duration, rnd=rnd)
        ver0 = self.verifications(peer) if peer.startswith("portcullis") else None
        t0 = os.times()
        c0, s0, u0 = read_cpu_lines(), proc_jiffies(pid), proc_jiffies(self.pids["up"])
        w0 = time.time()
        r = subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True,
                           timeout=self.args.duration + 30)
        wall = time.time() - w0
        c1, s1, u1 = read_cpu_lines(), proc_jiffies(pid), proc_jiffies(self.pids["up"])
        t1 = os.times()
        ver1 = self.verifications(peer) if peer.startswith("portcullis") else None
        if open_loop:
            # The CPU counted includes pace's 1 s warm-up: per request it
            # is the same work, so the run's jiffies are divided by every
            # request sent, warm-up and measured.
            try:
                o = json.loads(r.stdout)
            except ValueError:
                o = None
            if r.returncode != 0 or not o:
                raise RuntimeError(f"pace failed for {w['id']} {peer}: {r.returncode} {r.stdout} {r.stderr}")
            sent = o["requests"] + o["errors"] + int(self.args.open_rate)
            # requests, duration µs, p50, p99, connect, read, write, status, timeout, max
            v = [sent, int(wall * 1e6), o["p50_us"], o["p99_us"], 0, o["errors"], 0,
                 o["status_errors"], 0, o["max_us"]]
        else:
            line = [l for l in r.stdout.splitlines() if l.startswith("WRKRESULT")]
            if r.returncode != 0 or not line:
                raise RuntimeError(f"wrk failed for {w['id']} {peer}: {r.returncode} {r.stdout} {r.stderr}")
            v = [int(x) for x in line[0].split()[1:]]
        reqs, dur_us = v[0], v[1]
        wrk_j = ((t1.children_user - t0.children_user) + (t1.children_system - t0.children_system)) * CLK_TCK
        sut_j = 0 if peer == "direct" else s1 - s0
        busy_j = c1["cpu"][0] - c0["cpu"][0]
        foreign_cores = max(0.0, (busy_j - sut_j - (u1 - u0) - wrk_j) / CLK_TCK / wall)
        row = {
            "workload": w["id"], "mode": w["mode"], "peer": peer, "round": rnd + 1,
            "requests": reqs, "rps": reqs / (dur_us / 1e6),
            "p50_us": v[2], "p99_us": v[3], "max_us": v[9],
            "err_connect": v[4], "err_read": v[5], "err_write": v[6], "err_status": v[7], "err_timeout": v[8],
            "cpu_us_per_req": (sut_j / CLK_TCK * 1e6 / reqs) if reqs and peer != "direct" else None,
            "upstream_us_per_req": ((u1 - u0) / CLK_TCK * 1e6 / reqs) if reqs else None,
            "rss_kib": rss_kib(pid),
            "foreign_cores": round(foreign_cores, 3),
            "idle_busy_before": round(busy_before, 3), "waited_s": waited,
            "cpu1_busy": round((c1["cpu1"][0] - c0["cpu1"][0]) / max(1, c1["cpu1"][1] - c0["cpu1"][1]), 3) if "cpu1" in c1 else None,
            "verifications": (ver1 - ver0) if ver0 is not None and ver1 is not None else None,
        }
        self.rows.append(row)
        if peer.startswith("portcullis"):
            inst = "pc-a" if peer == "portcullis" else "pc-b"
            try:
                os.truncate(f"{self.d}/logs/{inst}.stderr.log", 0)
            except OSError:
                pass
        cpu = f"{row['cpu_us_per_req']:.1f}" if row["cpu_us_per_req"] is not None else "-"
        log(f"  {w['id']:<9} {w['mode']:<10} {peer:<20} r{rnd + 1} {row['rps']:>9.0f} req/s  "
            f"cpu {cpu:>6} us/req  up {row['upstream_us_per_req']:.1f}  p50 {v[2]} p99 {v[3]} us  "
            f"rss {row['rss_kib'] / 1024:.1f} MiB  foreign {row['foreign_cores']:.2f}"
            + (f"  verif/req {row['verifications'] / reqs:.2f}" if row["verifications"] is not None and reqs else "")
            + (f"  errs st={v[7]} sock={v[4] + v[5] + v[6] + v[8]}" if sum(v[4:9]) else ""))

    def run(self):
        plan = self.plan()
        for w in plan:
            if time.time() > self.deadline:
                self.notes.append(f"time budget exhausted before {w['id']} {w['mode']}; skipped")
                log(self.notes[-1])
                continue
            if any(p.startswith("portcullis") for p in w["peers"]):
                self.start_portcullis(w["rules"])
            for p in w["peers"]:
                self.sanity(w, p)
            log(f"{w['id']} {w['mode']}: {w['note']}")
            for rnd in range(self.args.rounds):
                for peer in w["peers"]:
                    if time.time() > self.deadline:
                        break
                    self.run_one(w, peer, rnd)
            for n in PORTCULLIS_PEERS:
                if n in w["peers"] and w["rules"] == "w2":
                    self.notes.append(f"{n} RSS with 1,000 policies: idle after start "
                                      f"{self.rss_idle.get(n, 0) / 1024:.1f} MiB")

    # -- report
    def summary(self):
        cells = {}
        for r in self.rows:
            cells.setdefault((r["workload"], r["mode"], r["peer"]), []).append(r)
        S = {}
        for k, rs in cells.items():
            def med(f):
                xs = [r[f] for r in rs if r[f] is not None]
                return statistics.median(xs) if xs else None
            def rng(f):
                xs = [r[f] for r in rs if r[f] is not None]
                return (min(xs), max(xs)) if xs else (None, None)
            S[k] = {
                "n": len(rs), "rps": med("rps"), "rps_range": rng("rps"),
                "cpu": med("cpu_us_per_req"), "cpu_range": rng("cpu_us_per_req"),
                "up": med("upstream_us_per_req"), "p50": med("p50_us"), "p99": med("p99_us"),
                "rss": max(r["rss_kib"] for r in rs), "foreign": max(r["foreign_cores"] for r in rs),
                "errs": sum(r["err_connect"] + r["err_read"] + r["err_write"] + r["err_timeout"] for r in rs),
                "status_errs": sum(r["err_status"] for r in rs),
                "verif_per_req": (sum(r["verifications"] for r in rs if r["verifications"] is not None)
                                  / max(1, sum(r["requests"] for r in rs)))
                if any(r["verifications"] is not None for r in rs) else None,
            }
        return S

    def report(self, info):
        S = self.summary()
        L = []
        f1 = lambda x: "-" if x is None else f"{x:.1f}"
        fk = lambda x: "-" if x is None else f"{x / 1000:.1f}k"
        L.append("| workload | mode | peer | req/s median (min–max) | proxy CPU µs/req median (min–max) "
                 "| upstream µs/req | p50 µs | p99 µs | RSS MiB | max foreign cores | notes |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for (wl, mode, peer), s in S.items():
            notes = []
            if s["errs"]:
                notes.append(f"{s['errs']} socket errors")
            if s["status_errs"]:
                notes.append(f"{s['status_errs']} 4xx/5xx (expected for W6)" if wl == "W6" else f"{s['status_errs']} 4xx/5xx")
            if s["verif_per_req"] is not None and wl == "W3":
                notes.append(f"{s['verif_per_req']:.2f} signature checks/req")
            if s["foreign"] > 0.15:
                notes.append("NOISY")
            L.append(f"| {wl} | {mode} | {peer} | {fk(s['rps'])} ({fk(s['rps_range'][0])}–{fk(s['rps_range'][1])}) "
                     f"| {f1(s['cpu'])} ({f1(s['cpu_range'][0])}–{f1(s['cpu_range'][1])}) | {f1(s['up'])} "
                     f"| {s['p50']:.0f} | {s['p99']:.0f} | {s['rss'] / 1024:.1f} | {s['foreign']:.2f} | {'; '.join(notes)} |")
        table = "\n".join(L)

        # Ratios and targets
        R = []
        def g(wl, mode, peer, f="cpu"):
            s = S.get((wl, mode, peer))
            return None if s is None else s[f]
        def ratio(a, b):
            return None if a is None or b is None or b == 0 else a / b
        R.append("| workload | mode | Portcullis µs/req | ÷ pingora-pass | ÷ nginx | ÷ nginx+auth_request (proxy + auth server) "
                 "| req/s ÷ pingora-pass | req/s ÷ nginx | req/s ÷ nginx+auth_request |")
        R.append("|---|---|---|---|---|---|---|---|---|")
        fr = lambda x: "-" if x is None else f"{x:.2f}×"
        for (wl, mode, peer), s in S.items():
            if peer != "portcullis":
                continue
            pc = s["cpu"]
            na_total = None
            if g(wl, mode, "nginx+auth_request") is not None:
                auth = None
                if g(wl, mode, "nginx", "up") is not None:
                    auth = max(0.0, g(wl, mode, "nginx+auth_request", "up") - g(wl, mode, "nginx", "up"))
                elif g(wl, mode, "pingora-pass", "up") is not None:
                    auth = max(0.0, g(wl, mode, "nginx+auth_request", "up") - g(wl, mode, "pingora-pass", "up"))
                if auth is not None:
                    na_total = g(wl, mode, "nginx+auth_request") + auth
            R.append(f"| {wl} | {mode} | {f1(pc)} | {fr(ratio(pc, g(wl, mode, 'pingora-pass')))} "
                     f"| {fr(ratio(pc, g(wl, mode, 'nginx')))} "
                     f"| {fr(ratio(pc, na_total))}{'' if na_total is None else f' (of {na_total:.1f})'} "
                     f"| {fr(ratio(s['rps'], g(wl, mode, 'pingora-pass', 'rps')))} "
                     f"| {fr(ratio(s['rps'], g(wl, mode, 'nginx', 'rps')))} "
                     f"| {fr(ratio(s['rps'], g(wl, mode, 'nginx+auth_request', 'rps')))} |")
        ratios = "\n".join(R)

        T = []
        def verdict(ok):
            return "n/a" if ok is None else ("met" if ok else "MISSED")
        w0 = g("W0", "keep-alive", "portcullis"); pp0 = g("W0", "keep-alive", "pingora-pass")
        w1 = g("W1", "keep-alive", "portcullis"); w2 = g("W2", "keep-alive", "portcullis")
        r0 = ratio(w0, pp0)
        T.append(f"| W0 CPU/req ≤ 1.10× pingora-pass | {f1(w0)} vs {f1(pp0)} µs = {fr(r0)} | {verdict(None if r0 is None else r0 <= 1.10)} |")
        rr0 = ratio(g("W0", "keep-alive", "portcullis", "rps"), g("W0", "keep-alive", "pingora-pass", "rps"))
        T.append(f"| W0 req/s ≥ 0.90× pingora-pass | {fr(rr0)} | {verdict(None if rr0 is None else rr0 >= 0.90)} |")
        if w1 is not None and w0 is not None:
            T.append(f"| W1 CPU/req ≤ W0 + 5 µs | W1 {f1(w1)} − W0 {f1(w0)} = {w1 - w0:+.1f} µs | {verdict(w1 - w0 <= 5)} |")
        na = g("W1", "keep-alive", "nginx+auth_request")
        if w1 is not None and na is not None:
            auth = max(0.0, g("W1", "keep-alive", "nginx+auth_request", "up") - (g("W1", "keep-alive", "nginx", "up") or g("W1", "keep-alive", "pingora-pass", "up")))
            T.append(f"| W1 total CPU/req < nginx+auth_request (proxy {f1(na)} + auth server {f1(auth)}) | {f1(w1)} vs {f1(na + auth)} µs | {verdict(w1 < na + auth)} |")
        if w2 is not None and w1 is not None:
            T.append(f"| W2 CPU/req ≤ W1 + 2 µs | W2 {f1(w2)} − W1 {f1(w1)} = {w2 - w1:+.1f} µs | {verdict(w2 - w1 <= 2)} |")
        w1_nodl = g("W1", "keep-alive", "portcullis-nodl")
        if w1 is not None and w1_nodl is not None:
            T.append(f"| decision log ≤ +2 µs CPU/req (W1, every allow recorded) | W1 {f1(w1)} − W1 with the log off "
                     f"{f1(w1_nodl)} = {w1 - w1_nodl:+.1f} µs | {verdict(w1 - w1_nodl <= 2)} |")
        for wl in ("W5", "W6"):
            for mode in ("keep-alive", "close"):
                a = g(wl, mode, "portcullis", "rps"); b = g("W0", mode, "portcullis", "rps")
                if a is not None and b is not None:
                    T.append(f"| {wl} ({mode}) req/s ≥ 1.3× W0 | {fk(a)} vs {fk(b)} = {fr(a / b)} | {verdict(a / b >= 1.3)} |")
        c = ratio(g("W0", "close", "portcullis"), g("W0", "close", "pingora-pass"))
        if c is not None:
            T.append(f"| Connection: close CPU ≤ 1.1× pingora-pass (W0) | {f1(g('W0', 'close', 'portcullis'))} vs {f1(g('W0', 'close', 'pingora-pass'))} = {fr(c)} | {verdict(c <= 1.1)} |")
        rss = g("W2", "keep-alive", "portcullis", "rss")
        if rss is not None:
            T.append(f"| RSS ≤ 64 MiB with 1,000 policies | {rss / 1024:.1f} MiB after W2 | {verdict(rss / 1024 <= 64)} |")
        if self.args.open_rate:
            mode = f"open {self.args.open_rate / 1000:g}k/s"
            for wl in ("W0", "W1"):
                for f in ("p50", "p99"):
                    a = g(wl, mode, "portcullis", f); b = g(wl, mode, "pingora-pass", f)
                    r = ratio(a, b)
                    if r is not None:
                        T.append(f"| {wl} open loop at {self.args.open_rate / 1000:g}k req/s: {f} ≤ 1.2× pingora-pass "
                                 f"| {a:.0f} vs {b:.0f} µs = {fr(r)} | {verdict(r <= 1.2)} |")
        w3 = g("W3", "keep-alive", "portcullis")
        if w3 is not None and w0 is not None:
            vpr = S[("W3", "keep-alive", "portcullis")]["verif_per_req"] or 0
            per = (w3 - w0) / vpr if vpr else None
            T.append(f"| W3 cold verify (info) | W3 {f1(w3)} − W0 {f1(w0)} µs at {vpr:.2f} checks/req ≈ {f1(per)} µs per cold session | - |")
        targets = "| target | measured | verdict |\n|---|---|---|\n" + "\n".join(T)

        head = [f"# Portcullis load comparison ({'quick' if self.args.quick else 'full'})", "",
                "```"] + [f"{k}: {v}" for k, v in info.items()] + [
                f"method: wrk -t1 -c{CONNS} -d{self.args.duration}s --latency (1 s warm-up discarded), "
                f"{self.args.rounds} interleaved rounds, medians; wrk + upstream nginx on CPU 0, proxy on CPU 1, 1 worker",
                *([f"open loop: pace at {self.args.open_rate} req/s over {CONNS} keep-alive connections, "
                   f"{self.args.duration} s after a 1 s warm-up, latency from each request's due time"]
                  if self.args.open_rate else []),
                f"wait budget left: {self.wait_budget:.0f} s",
                "```", ""]
        body = head + ["## Results", "", table, "", "## Ratios (Portcullis)", "", ratios, "",
                       "## Targets", "", targets, ""]
        if self.notes:
            body += ["## Notes", ""] + [f"- {n}" for n in self.notes] + [""]
        body += ["## Runs", "", "```"] + [json.dumps(r) for r in self.rows] + ["```", ""]
        return "\n".join(body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--duration", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--budget", type=int, default=None, help="seconds for all runs")
    ap.add_argument("--wait-budget", type=float, default=None, help="seconds to wait for quiet, in total")
    ap.add_argument("--max-idle-busy", type=float, default=0.25,
                    help="cores busy while the bench is idle above which a run waits")
    ap.add_argument("--w3-tokens", type=int, default=240000)
    ap.add_argument("--w3-users", type=int, default=1000)
    ap.add_argument("--start-wait", type=float, default=60,
                    help="seconds to wait at start for the 1-minute load average to drop below 0.5")
    ap.add_argument("--only", default="", help="comma-separated workload ids (W0,W1,...)")
    ap.add_argument("--no-decision-log", action="store_true",
                    help="run Portcullis with the decision log off (decision_log: { max_entries: 0 })")
    ap.add_argument("--decision-log-ab", action="store_true",
                    help="also run keep-alive W0 and W1 against a second Portcullis with the decision "
                         "log off (peer portcullis-nodl), interleaved, to measure what the log costs")
    ap.add_argument("--open-rate", type=int, default=None,
                    help="requests a second of the open-loop runs of W0 and W1 (pace); 0: none "
                         "(default 10000 in the full plan, 0 with --quick)")
    ap.add_argument("--preload", default="",
                    help="a malloc library LD_PRELOADed into Portcullis only (e.g. libjemalloc.so.2)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--smoke", action="store_true",
                    help="CI smoke: the quick plan, 3 s runs, exit 1 when Portcullis costs more than "
                         "--max-ratio x pingora-pass CPU/req in W0 (--max-ratio-w1 in W1); "
                         "skipped (exit 0) on a busy box")
    ap.add_argument("--max-ratio", type=float, default=1.5,
                    help="the smoke's limit for W0 (default 1.5, issue 21)")
    ap.add_argument("--max-ratio-w1", type=float, default=1.75,
                    help="the smoke's limit for W1 (default 1.75: W0's plus the policy work)")
    ap.add_argument("--max-loadavg", type=float, default=1.0,
                    help="the smoke is skipped when the 1-minute load average is above this")
    a = ap.parse_args()
    if a.smoke:
        a.quick = True
        if a.duration is None:
            a.duration = 3
        a.start_wait = 0
        if a.wait_budget is None:
            a.wait_budget = 20
        with open("/proc/loadavg") as f:
            load1 = float(f.read().split()[0])
        if load1 > a.max_loadavg:
            log(f"load smoke: skipped, the machine is busy (1-minute load average {load1:.2f} > {a.max_loadavg})")
            return 0
    if a.open_rate is None:
        a.open_rate = 0 if a.quick else 10000
    if a.duration is None:
        a.duration = 4 if a.quick else 5
    if a.budget is None:
        a.budget = 180 if a.quick else 1500
    if a.wait_budget is None:
        a.wait_budget = 60 if a.quick else 180
    if (os.cpu_count() or 1) < 2:
        log("load bench: needs at least 2 CPUs (load generator and proxy on separate cores); skipped")
        return 0
    info = machine()
    for k, v in info.items():
        log(f"{k}: {v}")
    # Foreign load: wait up to 60 s for the 1-minute load average to drop.
    t0 = time.time()
    while float(info["loadavg_at_start"].split()[0]) > 0.5 and time.time() - t0 < a.start_wait:
        time.sleep(5)
        with open("/proc/loadavg") as f:
            info["loadavg_at_start"] = f.read().strip()
    if float(info["loadavg_at_start"].split()[0]) > 0.5:
        info["warning"] = f"foreign load: loadavg {info['loadavg_at_start']} after waiting {a.start_wait:.0f} s; proceeding"
        log("WARNING: " + info["warning"])
    b = Bench(a)
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, lambda *_: (cleanup(), sys.exit(1)))
    try:
        b.setup()
        b.run()
        with open("/proc/loadavg") as f:
            info["loadavg_at_end"] = f.read().strip()
        text = b.report(info)
    finally:
        cleanup()
        if not a.keep:
            shutil.rmtree(b.d, ignore_errors=True)
        else:
            log(f"kept {b.d}")
    os.makedirs(a.out, exist_ok=True)
    kind = "-smoke" if a.smoke else ("-quick" if a.quick else "-full")
    name = datetime.now().strftime("%Y-%m-%d-%H%M") + kind + ".txt"
    path = os.path.join(a.out, name)
    write(path, text)
    log("")
    log(text.split("## Runs")[0])
    log(f"results: {path}")
    if a.smoke:
        return b.smoke_verdict(a.max_ratio, a.max_ratio_w1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
