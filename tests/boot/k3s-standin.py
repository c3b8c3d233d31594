#!/usr/bin/python3
"""A stand-in for the k3s binary on a booted test node (given to seedforge through files:
as bin/k3s). It does what the tests need to see of k3s, and nothing of Kubernetes:

- records how it was started (argv, its config with the token redacted, registries.yaml,
  and on a server the sha256 of every chart and manifest k3s would read at start) under
  /var/lib/k3s-standin/;
- imports the airgap archives from /var/lib/rancher/k3s/agent/images into containerd
  (namespace k8s.io), as k3s does at start;
- `k3s server`: listens on 6443, tells systemd it is ready (Type=notify), and records the
  address of every agent that connects;
- `k3s agent`: connects to the server URL of its config and records that it did.
"""

import datetime
import hashlib
import os
import socket
import subprocess
import sys
import time

STATE = "/var/lib/k3s-standin"
CONFIG = "/etc/rancher/k3s/config.yaml"
REGISTRIES = "/etc/rancher/k3s/registries.yaml"
IMAGES = "/var/lib/rancher/k3s/agent/images"


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


def import_images():
    """Imports every archive; records one line per archive and the image list."""
    for _ in range(60):
        if ctr("version").returncode == 0:
            break
        time.sleep(1)
    results = []
    for name in sorted(os.listdir(IMAGES)) if os.path.isdir(IMAGES) else []:
        path = os.path.join(IMAGES, name)
        if name.endswith(".tar.zst"):
            unzstd = subprocess.Popen(["zstd", "-dc", path], stdout=subprocess.PIPE)
            r = ctr("images", "import", "--all-platforms", "-", stdin=unzstd.stdout)
            unzstd.wait()
        elif name.endswith(".tar"):
            r = ctr("images", "import", "--all-platforms", path)
        else:
            continue
        results.append(f"{name} rc={r.returncode} {r.stderr.strip()}")
    write("imports", "\n".join(results) + "\n")
    listed = ctr("images", "ls", "-q")
    write("images", listed.stdout)


def notify_ready():
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(address)
        s.sendall(b"READY=1")


def serve():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", 6443))
    listener.listen(16)
    notify_ready()
    while True:
        conn, (host, _) = listener.accept()
        append("connections", f"{now()} {host}")
        # The agents' bootstrap probes the port without a word; an agent says hello.
        conn.settimeout(5)
        try:
            hello = conn.recv(64).decode("utf-8", "replace").strip()
        except OSError:
            hello = ""
        if hello.startswith("agent "):
            append("agents", f"{now()} {host} {hello}")
            conn.sendall(b"welcome\n")
        conn.close()


def join():
    url = config_value("server") or ""
    host = url.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    name = config_value("node-name") or "?"
    for _ in range(600):
        try:
            with socket.create_connection((host, 6443), timeout=5) as s:
                s.sendall(f"agent {name}\n".encode())
                if s.recv(64).startswith(b"welcome"):
                    append("joined", f"{now()} {url}")
                    return
        except OSError:
            pass
        time.sleep(2)


def main():
    role = sys.argv[1] if len(sys.argv) > 1 else ""
    if role not in ("server", "agent"):
        print("k3s stand-in: usage: k3s server|agent", file=sys.stderr)
        return 2
    record_start(role)
    # Before a server reports ready or an agent joins, as the tests read them then.
    import_images()
    if role == "server":
        serve()
    else:
        join()
        while True:
            time.sleep(3600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
