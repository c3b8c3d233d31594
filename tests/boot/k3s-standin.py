#!/usr/bin/python3
"""A stand-in for the k3s binary on a booted test node (given to seedforge through files:
as bin/k3s). It does what the tests need to see of k3s, and nothing of Kubernetes:

- records how it was started (argv, its config with the token redacted, registries.yaml,
  and on a server the sha256 of every chart and manifest k3s would read at start) under
  /var/lib/k3s-standin/;
- imports the airgap archives from /var/lib/rancher/k3s/agent/images into containerd
  (namespace k8s.io), as k3s does at start, with k3s's conditional import: when that folder
  holds `.cache.json` (an operator opts in by creating it), an archive whose path, size and
  modification time the file records is skipped, and each one imported is recorded;
- `k3s server`: listens on 6443, tells systemd it is ready (Type=notify), and records the
  address of every agent that connects; it keeps each agent's last hello (its name,
  address, release and time, /var/lib/k3s-standin/nodes.json, so a restarted server still
  knows them) and logs each hello that tells something new (the agent's release, or the
  first since this server started) as an event `hello NAME RELEASE`, the event's own
  release being the server's at that moment;
- `k3s agent`: connects to the server URL of its config, says hello with its name and
  release and records that it did, then says hello again every few seconds while it runs
  (a node whose hellos stop goes NotReady);
- `k3s kubectl ... get nodes ...`: asks the server (this node's, or the one of the agent's
  config) over 6443 and prints its answer, `NAME VERSION READY` a node (the custom-columns
  output, no header): the server itself (Ready while it answers) and each agent known
  (Ready when its last hello is recent). When a server answers an agent its own line Ready
  at release R, it writes /var/lib/k3s-standin/answered-NAME-R (a test may wait for it);
  the asking side tells the hop its bootstrap is at (`hop` of its status.json), and when
  the server itself runs that hop or newer it also writes answered-NAME-for-HOP: the
  answer that lets the agent take the hop;
- `k3s --version`: says the release it stands in for: v1.33.1+k3s1, or the last
  `# k3s-standin-version: RELEASE` line of this file (a test appends one), as it was
  when the process started (so a running server or agent tells the release it runs, not
  the one installed over it since);
- `k3s ctr ARGS`: the node's own `ctr` with ARGS (a `.tar.zst` to import is decompressed
  on the way, as k3s's containerd 2 does and Debian's ctr 1.6 cannot);
- creates k3s's node password (/etc/rancher/node/password) at its first start, as k3s does;
- keeps an ordered event log (/var/lib/k3s-standin/events), one line per start (with the
  archives in the images folder then) and per image import or skip, each with the release
  it stands in for and the images imported (`NAME@DIGEST`), so a test can tell which k3s
  imported what, and when;
- after every import, records the node's images with their digests (`NAME DIGEST` per
  line, /var/lib/k3s-standin/image-digests): what a pod of each name would run.
"""

import datetime
import hashlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time

STATE = "/var/lib/k3s-standin"
CONFIG = "/etc/rancher/k3s/config.yaml"
REGISTRIES = "/etc/rancher/k3s/registries.yaml"
IMAGES = "/var/lib/rancher/k3s/agent/images"
IMPORT_CACHE = os.path.join(IMAGES, ".cache.json")
NODE_PASSWORD = "/etc/rancher/node/password"
VERSION_MARK = "# k3s-standin-version: "


def read_version():
    found = "v1.33.1+k3s1"
    with open(os.path.abspath(__file__), encoding="utf-8") as f:
        for line in f:
            if line.startswith(VERSION_MARK):
                found = line[len(VERSION_MARK):].strip()
    return found


# The release of this process, read once at its start: a binary installed over this file
# while it runs (an upgrade) is a release only once it is started.
VERSION = read_version()


def version():
    return VERSION


def event(what):
    os.makedirs(STATE, exist_ok=True)
    append("events", f"{now()} {version()} {what}")


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def append(name, line):
    with open(os.path.join(STATE, name), "a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def write(name, text):
    path = os.path.join(STATE, name)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def config_lines():
    try:
        with open(CONFIG, encoding="utf-8") as f:
            return f.read().splitlines()
    except OSError:
        return []


def config_value(key):
    for line in config_lines():
        if line.startswith(key + ":"):
            return line.split(":", 1)[1].strip().strip('"')
    return None


def record_start(role):
    os.makedirs(STATE, exist_ok=True)
    append("starts", f"{now()} {' '.join(sys.argv[1:])}")
    event(f"start {role} archives={','.join(archives())}")
    if not os.path.exists(NODE_PASSWORD):
        os.makedirs(os.path.dirname(NODE_PASSWORD), exist_ok=True)
        with open(NODE_PASSWORD, "w", encoding="utf-8") as f:
            f.write(secrets.token_hex(16) + "\n")
        os.chmod(NODE_PASSWORD, 0o600)
    write("argv", " ".join(sys.argv) + "\n")
    redacted = [
        "token: <redacted>" if line.startswith("token:") else line for line in config_lines()
    ]
    write("config.yaml", "\n".join(redacted) + "\n")
    write("token-present", "yes\n" if config_value("token") else "no\n")
    try:
        with open(REGISTRIES, encoding="utf-8") as f:
            write("registries.yaml", f.read())
    except OSError:
        write("registries.yaml", "")
    write("role", role + "\n")
    if role == "server":
        write("server-files", server_files())


SERVER = "/var/lib/rancher/k3s/server"


def server_files():
    """`sha256  PATH` of each file k3s reads at start from its static charts and
    manifests folders, PATH relative to the server folder, sorted."""
    lines = []
    for sub in ("static/charts", "manifests"):
        folder = os.path.join(SERVER, sub)
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
                lines.append(f"{digest}  {sub}/{name}")
    return "".join(line + "\n" for line in lines)


def ctr(*args, stdin=None):
    return subprocess.run(
        ["ctr", "-n", "k8s.io", *args],
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def unpacked(output):
    """`NAME@DIGEST` of each image ctr's import output says it unpacked."""
    found = re.findall(r"unpacking (\S+) \((sha256:[0-9a-f]+)\)", output)
    return ",".join(f"{name}@{digest}" for name, digest in found)


def archives():
    """The names in the images folder k3s would import from, sorted."""
    if not os.path.isdir(IMAGES):
        return []
    return [
        n
        for n in sorted(os.listdir(IMAGES))
        if n.endswith((".tar", ".tar.zst")) and os.path.isfile(os.path.join(IMAGES, n))
    ]


def seen(path):
    """What k3s's conditional import keeps of an archive: its size and modification time."""
    st = os.stat(path)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def load_import_cache():
    """The import cache (path -> size and mtime), or None when k3s was not asked to keep one
    (no .cache.json); an empty or unreadable file is an empty cache."""
    try:
        with open(IMPORT_CACHE, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    try:
        cache = json.loads(text) if text.strip() else {}
    except ValueError:
        cache = {}
    return cache if isinstance(cache, dict) else {}


def save_import_cache(cache):
    with open(IMPORT_CACHE + ".tmp", "w", encoding="utf-8") as f:
        json.dump(cache, f, sort_keys=True)
    os.replace(IMPORT_CACHE + ".tmp", IMPORT_CACHE)


def record_digests():
    """`NAME DIGEST` of every image in containerd's k8s.io namespace."""
    listed = ctr("images", "ls")
    lines = []
    for line in listed.stdout.splitlines()[1:]:
        words = line.split()
        if len(words) >= 3:
            lines.append(f"{words[0]} {words[2]}")
    write("image-digests", "".join(line + "\n" for line in sorted(lines)))


def import_images():
    """Imports every archive (but those the import cache has seen unchanged); records one
    line per archive and the image list."""
    for _ in range(60):
        if ctr("version").returncode == 0:
            break
        time.sleep(1)
    results = []
    cache = load_import_cache()
    for name in archives():
        path = os.path.join(IMAGES, name)
        if cache is not None and cache.get(path) == seen(path):
            results.append(f"{name} skipped (cached)")
            event(f"skip-at-start {name} cached")
            continue
        if name.endswith(".tar.zst"):
            unzstd = subprocess.Popen(["zstd", "-dc", path], stdout=subprocess.PIPE)
            r = ctr("images", "import", "--all-platforms", "-", stdin=unzstd.stdout)
            unzstd.wait()
        elif name.endswith(".tar"):
            r = ctr("images", "import", "--all-platforms", path)
        else:
            continue
        results.append(f"{name} rc={r.returncode} {r.stderr.strip()}")
        event(f"import-at-start {name} rc={r.returncode} images={unpacked(r.stdout)}")
        if cache is not None and r.returncode == 0:
            cache[path] = seen(path)
    if cache is not None:
        save_import_cache(cache)
    write("imports", "\n".join(results) + "\n")
    listed = ctr("images", "ls", "-q")
    write("images", listed.stdout)
    record_digests()


def ctr_command(args):
    """`k3s ctr ARGS`: the node's ctr with ARGS, its output passed on; an image import is
    recorded as an event."""
    importing = "images" in args and "import" in args
    stdin = None
    unzstd = None
    if importing and args[-1].endswith(".zst"):
        unzstd = subprocess.Popen(["zstd", "-dc", args[-1]], stdout=subprocess.PIPE)
        stdin = unzstd.stdout
        args = args[:-1] + ["-"]
    r = subprocess.run(["ctr", *args], stdin=stdin, capture_output=True, text=True, check=False)
    if unzstd is not None:
        unzstd.wait()
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    if importing:
        event(f"ctr {' '.join(args)} rc={r.returncode} images={unpacked(r.stdout)}")
        record_digests()
    return r.returncode


def notify_ready():
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(address)
        s.sendall(b"READY=1")


# How recent an agent's last hello must be for it to be Ready, and how often it says one.
READY_SECONDS = 30
HELLO_SECONDS = 5


def load_nodes():
    """The agents a server knows: name -> {host, release, time}."""
    try:
        with open(os.path.join(STATE, "nodes.json"), encoding="utf-8") as f:
            known = json.load(f)
        return known if isinstance(known, dict) else {}
    except (OSError, ValueError):
        return {}


def nodes_answer(known):
    """What `kubectl get nodes --no-headers -o custom-columns=NAME,VERSION,READY` prints."""
    rows = [(config_value("node-name") or "?", version(), "True")]
    for name in sorted(known):
        agent = known[name]
        ready = "True" if time.time() - agent.get("time", 0) < READY_SECONDS else "False"
        rows.append((name, agent.get("release", "?"), ready))
    return "".join(f"{n:<24}{v:<24}{r}\n" for n, v, r in rows)


def serve():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", 6443))
    listener.listen(16)
    notify_ready()
    known = load_nodes()
    logged = {}
    while True:
        conn, (host, _) = listener.accept()
        # The agents' bootstrap probes the port without a word; an agent says hello
        # (`agent NAME RELEASE`); `k3s kubectl get nodes` asks for the nodes.
        conn.settimeout(5)
        try:
            said = conn.recv(256).decode("utf-8", "replace").strip()
        except OSError:
            said = ""
        try:
            if said.startswith("agent "):
                words = said.split()
                name = words[1] if len(words) > 1 else "?"
                release = words[2] if len(words) > 2 else "?"
                before = known.get(name, {})
                if before.get("release") != release or before.get("host") != host:
                    append("agents", f"{now()} {host} agent {name} {release}")
                known[name] = {"host": host, "release": release, "time": time.time()}
                write("nodes.json", json.dumps(known, sort_keys=True))
                if logged.get(name) != release:
                    event(f"hello {name} {release}")
                    logged[name] = release
                conn.sendall(b"welcome\n")
            elif said == "nodes" or said.startswith("nodes for "):
                answer = nodes_answer(known)
                hop = said[len("nodes for "):] if said.startswith("nodes for ") else ""
                for name, agent in known.items():
                    line = [w for w in answer.splitlines() if w.split()[:1] == [name]]
                    if agent.get("host") == host and line and line[0].split()[2] == "True":
                        write(f"answered-{name}-{agent.get('release')}", now() + "\n")
                        if hop and release_key(version()) >= release_key(hop):
                            write(f"answered-{name}-for-{hop}", now() + "\n")
                conn.sendall(answer.encode())
            else:
                append("connections", f"{now()} {host}")
        except OSError:
            pass
        conn.close()


def server_host():
    """The server this node talks to: the one of its config (an agent), or itself."""
    url = config_value("server")
    if not url:
        return "127.0.0.1"
    return url.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")


def release_key(release):
    """The numbers a k3s release is ordered by (major, minor, patch, k3s); zeros for none."""
    m = re.match(r"^v(\d+)\.(\d+)\.(\d+)(?:-[^+]*)?\+k3s(\d+)$", release or "")
    return tuple(int(g) for g in m.groups()) if m else (0, 0, 0, 0)


def bootstrap_hop():
    """The hop this node's bootstrap is at (`hop` of its status.json), or nothing."""
    try:
        with open("/var/lib/seedforge/status.json", encoding="utf-8") as f:
            return json.load(f).get("hop") or ""
    except (OSError, ValueError):
        return ""


def kubectl(args):
    """`k3s kubectl ... get nodes ...`: the server's answer, as kubectl prints it."""
    if "get" not in args or "nodes" not in args:
        print("k3s stand-in: kubectl: only `get nodes` is known", file=sys.stderr)
        return 1
    hop = bootstrap_hop()
    try:
        with socket.create_connection((server_host(), 6443), timeout=10) as s:
            s.settimeout(10)
            s.sendall(f"nodes for {hop}\n".encode() if hop else b"nodes\n")
            chunks = []
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                chunks.append(chunk)
    except OSError as e:
        print(f"The connection to the server was refused: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(b"".join(chunks).decode("utf-8", "replace"))
    return 0


def join():
    url = config_value("server") or ""
    host = server_host()
    name = config_value("node-name") or "?"
    joined = False
    while True:
        try:
            with socket.create_connection((host, 6443), timeout=5) as s:
                s.sendall(f"agent {name} {version()}\n".encode())
                if s.recv(64).startswith(b"welcome") and not joined:
                    append("joined", f"{now()} {url}")
                    joined = True
        except OSError:
            pass
        time.sleep(HELLO_SECONDS if joined else 2)


def main():
    role = sys.argv[1] if len(sys.argv) > 1 else ""
    if role in ("--version", "-v", "version"):
        print(f"k3s version {version()} (stand-in)")
        print("go version go1.24 (stand-in)")
        return 0
    if role == "ctr":
        return ctr_command(sys.argv[2:])
    if role == "kubectl":
        return kubectl(sys.argv[2:])
    if role not in ("server", "agent"):
        print("k3s stand-in: usage: k3s server|agent|ctr ...|kubectl ...|--version", file=sys.stderr)
        return 2
    record_start(role)
    # Before a server reports ready or an agent joins, as the tests read them then.
    import_images()
    if role == "server":
        serve()
    else:
        join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
