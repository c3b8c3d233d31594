#!/usr/bin/env python3
"""Renders charts with Helm's own engine, for the tests that judge seedforge's rendering.

Helm 4's Go library comes as a shared object in PyPI's `helm-sdkpy` wheel
(`helm_sdkpy/_lib/linux-amd64/libhelm_sdkpy.so`); scripts/test.sh fetches the wheel into
target/ and unpacks it. This script loads that library with ctypes (standard library
only: the wheel's own Python asks for 3.12, the library does not) and calls its C API,
`helm_sdkpy_config_create` and `helm_sdkpy_install`: the library renders only through an
install, which talks to a Kubernetes API. So each case gets a small API server of its own
on 127.0.0.1 (a free port, stopped when the case ends), serving:

- discovery: `/version` (the k3s release given) and the API groups, versions and kinds
  given (the set seedforge's `.Capabilities.APIVersions` holds), plus the CRDs the install
  creates from the chart's `crds/` (as a real cluster serves them, so Helm's capabilities
  then hold them);
- objects kept in memory: create, get, list, delete, and watch (the hook waits); a Job is
  created complete, a Pod succeeded, a CRD established, so hooks end at once;
- for a kind the manifest needs but neither the given set nor a `crds/` CRD defines (a
  custom resource whose CRD is a template), Helm refuses to install ("no matches for kind":
  a real cluster without that CRD refuses it too); the case is tried again with that kind
  served from the start, and the result names it (`late_kinds`), as Helm's capabilities
  then hold it.

Helm's release storage is its memory driver (`HELM_DRIVER=memory`), so the release comes
back whole from the install: its manifest, hooks (tests included) and NOTES.

    judge.py --lib LIB --cases CASES.json --out OUT.json [--timeout SECONDS]

CASES.json: {"kube_version": "v1.33.1+k3s1", "api_versions": ["apps/v1",
"apps/v1/Deployment", ...], "cases": [{"id": ..., "chart": DIR or .tgz, "release": ...,
"namespace": ..., "values": {...}}]}. OUT.json: {"helm": VERSION, "cases": [{"id", "ok",
"error", "manifest", "hooks": [{"path", "kind", "name", "events", "manifest"}], "notes",
"late_kinds", "seconds"}]}. Every case is bounded by --timeout (the install's own timeout
too); the whole run by the caller's.
"""

import argparse
import ctypes
import json
import os
import re
import select
import socket
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Kinds of the built-in API groups: plural resource name and whether namespaced. A kind
# not named here is served as namespaced, its plural made the usual way.
BUILTIN = {
    "Pod": ("pods", True),
    "Service": ("services", True),
    "ConfigMap": ("configmaps", True),
    "Secret": ("secrets", True),
    "ServiceAccount": ("serviceaccounts", True),
    "Namespace": ("namespaces", False),
    "PersistentVolumeClaim": ("persistentvolumeclaims", True),
    "PersistentVolume": ("persistentvolumes", False),
    "Endpoints": ("endpoints", True),
    "Node": ("nodes", False),
    "Event": ("events", True),
    "LimitRange": ("limitranges", True),
    "ResourceQuota": ("resourcequotas", True),
    "ReplicationController": ("replicationcontrollers", True),
    "PodTemplate": ("podtemplates", True),
    "MutatingWebhookConfiguration": ("mutatingwebhookconfigurations", False),
    "ValidatingWebhookConfiguration": ("validatingwebhookconfigurations", False),
    "ValidatingAdmissionPolicy": ("validatingadmissionpolicies", False),
    "ValidatingAdmissionPolicyBinding": ("validatingadmissionpolicybindings", False),
    "MutatingAdmissionPolicy": ("mutatingadmissionpolicies", False),
    "MutatingAdmissionPolicyBinding": ("mutatingadmissionpolicybindings", False),
    "CustomResourceDefinition": ("customresourcedefinitions", False),
    "APIService": ("apiservices", False),
    "Deployment": ("deployments", True),
    "StatefulSet": ("statefulsets", True),
    "DaemonSet": ("daemonsets", True),
    "ReplicaSet": ("replicasets", True),
    "ControllerRevision": ("controllerrevisions", True),
    "TokenReview": ("tokenreviews", False),
    "SelfSubjectReview": ("selfsubjectreviews", False),
    "SubjectAccessReview": ("subjectaccessreviews", False),
    "SelfSubjectAccessReview": ("selfsubjectaccessreviews", False),
    "LocalSubjectAccessReview": ("localsubjectaccessreviews", True),
    "SelfSubjectRulesReview": ("selfsubjectrulesreviews", False),
    "HorizontalPodAutoscaler": ("horizontalpodautoscalers", True),
    "Job": ("jobs", True),
    "CronJob": ("cronjobs", True),
    "CertificateSigningRequest": ("certificatesigningrequests", False),
    "Lease": ("leases", True),
    "EndpointSlice": ("endpointslices", True),
    "FlowSchema": ("flowschemas", False),
    "PriorityLevelConfiguration": ("prioritylevelconfigurations", False),
    "Ingress": ("ingresses", True),
    "IngressClass": ("ingressclasses", False),
    "NetworkPolicy": ("networkpolicies", True),
    "RuntimeClass": ("runtimeclasses", False),
    "PodDisruptionBudget": ("poddisruptionbudgets", True),
    "Eviction": ("evictions", True),
    "Role": ("roles", True),
    "ClusterRole": ("clusterroles", False),
    "RoleBinding": ("rolebindings", True),
    "ClusterRoleBinding": ("clusterrolebindings", False),
    "PriorityClass": ("priorityclasses", False),
    "StorageClass": ("storageclasses", False),
    "CSIDriver": ("csidrivers", False),
    "CSINode": ("csinodes", False),
    "VolumeAttachment": ("volumeattachments", False),
    "CSIStorageCapacity": ("csistoragecapacities", True),
    "NodeMetrics": ("nodes", False),
    "PodMetrics": ("pods", True),
    "ETCDSnapshotFile": ("etcdsnapshotfiles", False),
}

VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


def plural_of(kind):
    k = kind.lower()
    if re.search(r"(s|x|z|ch|sh)$", k):
        return k + "es"
    if re.search(r"[^aeiou]y$", k):
        return k[:-1] + "ies"
    return k + "s"


def split_gv(gv):
    return ("", gv) if "/" not in gv else tuple(gv.split("/", 1))


class Cluster:
    """One case's API: its discovery and its objects, in memory."""

    def __init__(self, kube_version, api_versions, late_kinds):
        self.lock = threading.Lock()
        self.kube_version = kube_version
        # group -> version -> plural -> (kind, namespaced)
        self.groups = {}
        self.late = {}
        self.rv = 100
        # (group, version, plural) -> {(namespace, name): object}
        self.objects = {}
        self.log = []
        kinds_of = {}
        for entry in api_versions:
            # "v1", "apps/v1": a group version; "v1/Pod", "apps/v1/Deployment": a kind.
            parts = entry.split("/")
            if parts[-1][:1].isupper():
                group, version = split_gv("/".join(parts[:-1]))
                kinds_of.setdefault((group, version), []).append(parts[-1])
            else:
                group, version = split_gv(entry)
            self.groups.setdefault(group, {}).setdefault(version, {})
        for (group, version), kinds in kinds_of.items():
            rs = self.groups.setdefault(group, {}).setdefault(version, {})
            for kind in kinds:
                plural, namespaced = BUILTIN.get(kind, (plural_of(kind), True))
                rs[plural] = (kind, namespaced)
        for group, version, kind in late_kinds:
            self.late.setdefault(group, {}).setdefault(version, {})[plural_of(kind)] = (kind, True)

    # --- discovery -------------------------------------------------------------------

    def served(self):
        """The groups served: the given set, the CRDs created, the kinds added on a retry."""
        if not self.late:
            return self.groups
        out = {g: {v: dict(rs) for v, rs in vs.items()} for g, vs in self.groups.items()}
        for g, vs in self.late.items():
            for v, rs in vs.items():
                out.setdefault(g, {}).setdefault(v, {}).update(rs)
        return out

    def resource(self, group, version, plural):
        return self.served().get(group, {}).get(version, {}).get(plural)

    def add_crd(self, crd):
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        group = spec.get("group", "")
        plural = names.get("plural") or plural_of(names.get("kind", ""))
        namespaced = spec.get("scope", "Namespaced") == "Namespaced"
        for v in spec.get("versions") or [{"name": spec.get("version", "v1"), "served": True}]:
            if v.get("served", True):
                self.groups.setdefault(group, {}).setdefault(v["name"], {})[plural] = (
                    names.get("kind", ""),
                    namespaced,
                )

    # --- objects -----------------------------------------------------------------------

    def next_rv(self):
        self.rv += 1
        return str(self.rv)

    def create(self, key, namespace, obj):
        meta = obj.setdefault("metadata", {})
        name = meta.get("name") or (meta.get("generateName", "x-") + "judge")
        meta["name"] = name
        if namespace:
            meta["namespace"] = namespace
        store = self.objects.setdefault(key, {})
        if (namespace, name) in store:
            return None
        meta["uid"] = "00000000-0000-0000-0000-%012d" % self.rv
        meta["resourceVersion"] = self.next_rv()
        meta["creationTimestamp"] = "2024-01-01T00:00:00Z"
        meta["generation"] = 1
        kind = obj.get("kind")
        # What a real cluster would soon say: hooks done, CRDs established.
        if kind == "Job":
            obj["status"] = {
                "succeeded": 1,
                "conditions": [
                    {"type": "SuccessCriteriaMet", "status": "True"},
                    {"type": "Complete", "status": "True"},
                ],
            }
        elif kind == "Pod":
            obj["status"] = {"phase": "Succeeded"}
        elif kind == "CustomResourceDefinition":
            spec = obj.get("spec") or {}
            obj["status"] = {
                "conditions": [
                    {"type": "NamesAccepted", "status": "True"},
                    {"type": "Established", "status": "True"},
                ],
                "acceptedNames": spec.get("names") or {},
                "storedVersions": [v.get("name") for v in spec.get("versions") or []],
            }
            self.add_crd(obj)
        store[(namespace, name)] = obj
        return obj


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    cluster = None  # set per server class

    def setup(self):
        super().setup()
        # One small write after another (headers, then body) would wait out the peer's
        # delayed ACK, some 40 ms a request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):  # noqa: A003 - quiet; kept in the cluster's log
        pass

    def send_json(self, code, doc):
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def status(self, code, reason, message):
        self.send_json(
            code,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": message,
                "reason": reason,
                "code": code,
            },
        )

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raw = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                raw += self.rfile.read(size)
                self.rfile.readline()
        return raw

    # Paths: /api/v1[/namespaces/NS]/PLURAL[/NAME], /apis/G/V[/namespaces/NS]/PLURAL[/NAME]
    def route(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        parts = [p for p in url.path.split("/") if p]
        return parts, query

    def do_GET(self):  # noqa: N802
        c = self.cluster
        parts, query = self.route()
        with c.lock:
            c.log.append("%.2f GET %s" % (time.monotonic(), self.path))
        if parts == ["version"]:
            v = c.kube_version
            m = re.match(r"v?(\d+)\.(\d+)", v)
            return self.send_json(
                200,
                {
                    "major": m.group(1) if m else "1",
                    "minor": m.group(2) if m else "0",
                    "gitVersion": v,
                    "gitCommit": "",
                    "gitTreeState": "clean",
                    "buildDate": "2024-01-01T00:00:00Z",
                    "goVersion": "go1.24",
                    "compiler": "gc",
                    "platform": "linux/amd64",
                },
            )
        if parts[:2] == ["openapi", "v3"]:
            return self.openapi(parts[2:])
        if parts == ["api"]:
            return self.send_json(
                200,
                {
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [
                        {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}
                    ],
                },
            )
        if parts == ["apis"]:
            with c.lock:
                served = c.served()
            groups = []
            for g in sorted(x for x in served if x):
                versions = sorted(served[g])
                vs = [{"groupVersion": f"{g}/{v}", "version": v} for v in versions]
                groups.append({"name": g, "versions": vs, "preferredVersion": vs[-1]})
            return self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        if parts and parts[0] in ("api", "apis"):
            if parts[0] == "api":
                group, rest = "", parts[1:]
            else:
                group, rest = parts[1], parts[2:]
            if not rest:
                with c.lock:
                    served = c.served()
                if group not in served:
                    return self.status(404, "NotFound", "the server could not find the requested resource")
                versions = sorted(served[group])
                vs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
                return self.send_json(
                    200, {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": vs, "preferredVersion": vs[-1]}
                )
            version, rest = rest[0], rest[1:]
            if not rest:
                with c.lock:
                    served = c.served()
                rs = served.get(group, {}).get(version)
                if rs is None:
                    return self.status(404, "NotFound", "the server could not find the requested resource")
                gv = f"{group}/{version}" if group else version
                resources = [
                    {
                        "name": plural,
                        "singularName": kind.lower(),
                        "namespaced": namespaced,
                        "kind": kind,
                        "verbs": VERBS,
                    }
                    for plural, (kind, namespaced) in sorted(rs.items())
                ]
                return self.send_json(
                    200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}
                )
            return self.objects("GET", group, version, rest, query)
        return self.status(404, "NotFound", "the server could not find the requested resource")

    def openapi(self, gv_parts):
        """OpenAPI v3, only as far as a client checks that the server validates fields
        itself (the `fieldValidation` parameter of each kind's PATCH), so that Helm's
        client-side schema validation of hook objects, which would need every schema,
        is not done."""
        c = self.cluster
        with c.lock:
            served = c.served()
        if not gv_parts:
            paths = {}
            for g, vs in served.items():
                for v in vs:
                    p = f"api/{v}" if not g else f"apis/{g}/{v}"
                    paths[p] = {"serverRelativeURL": f"/openapi/v3/{p}?hash=judge"}
            return self.send_json(200, {"paths": paths})
        if gv_parts[0] == "api" and len(gv_parts) == 2:
            group, version = "", gv_parts[1]
        elif gv_parts[0] == "apis" and len(gv_parts) == 3:
            group, version = gv_parts[1], gv_parts[2]
        else:
            return self.status(404, "NotFound", "the server could not find the requested resource")
        rs = served.get(group, {}).get(version)
        if rs is None:
            return self.status(404, "NotFound", "the server could not find the requested resource")
        prefix = f"/api/{version}" if not group else f"/apis/{group}/{version}"
        paths = {}
        for plural, (kind, namespaced) in sorted(rs.items()):
            path = prefix + ("/namespaces/{namespace}" if namespaced else "") + f"/{plural}/{{name}}"
            paths[path] = {
                "patch": {
                    "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": kind},
                    "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
                    "responses": {},
                }
            }
        doc = {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": c.kube_version}, "paths": paths}
        return self.send_json(200, doc)

    def do_POST(self):  # noqa: N802
        self.with_body("POST")

    def do_PUT(self):  # noqa: N802
        self.with_body("PUT")

    def do_PATCH(self):  # noqa: N802
        self.with_body("PATCH")

    def do_DELETE(self):  # noqa: N802
        self.with_body("DELETE")

    def with_body(self, method):
        c = self.cluster
        body = self.read_body()
        parts, query = self.route()
        with c.lock:
            c.log.append("%.2f %s %s" % (time.monotonic(), method, self.path))
        if parts and parts[0] in ("api", "apis") and len(parts) >= 3:
            if parts[0] == "api":
                group, rest = "", parts[1:]
            else:
                group, rest = parts[1], parts[2:]
            return self.objects(method, group, rest[0], rest[1:], query, body)
        return self.status(404, "NotFound", "the server could not find the requested resource")

    def objects(self, method, group, version, rest, query, body=b""):
        c = self.cluster
        namespace = ""
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        if not rest:
            return self.status(404, "NotFound", "the server could not find the requested resource")
        plural, name = rest[0], (rest[1] if len(rest) > 1 else None)
        with c.lock:
            r = c.resource(group, version, plural)
        if r is None:
            return self.status(404, "NotFound", f"the server could not find the requested resource ({plural})")
        kind, _ = r
        key = (group, version, plural)
        gv = f"{group}/{version}" if group else version
        if method == "GET" and name is None:
            if query.get("watch") in ("1", "true"):
                return self.watch(key, kind, gv, namespace, query)
            # A plain list is the templates' `lookup` of a kind's objects (Helm's waits
            # list by watching): `helm template` has no cluster, its `lookup` finds
            # nothing, and so it finds nothing here (a list found, even an empty one, is
            # a map with keys to a template).
            return self.status(404, "NotFound", f"{plural} are not listed by the judge's API")
        if method == "GET":
            with c.lock:
                obj = c.objects.get(key, {}).get((namespace, name))
            if obj is None:
                return self.status(404, "NotFound", f'{plural} "{name}" not found')
            return self.send_json(200, obj)
        if method == "POST" and name is None:
            try:
                obj = json.loads(body or b"{}")
            except ValueError:
                return self.status(415, "UnsupportedMediaType", "the judge's API takes JSON only")
            with c.lock:
                made = c.create(key, namespace, obj)
            if made is None:
                return self.status(409, "AlreadyExists", f'{plural} "{obj["metadata"]["name"]}" already exists')
            return self.send_json(201, made)
        if method == "DELETE" and name is not None:
            with c.lock:
                obj = c.objects.get(key, {}).pop((namespace, name), None)
            if obj is None:
                return self.status(404, "NotFound", f'{plural} "{name}" not found')
            return self.send_json(200, {"kind": "Status", "apiVersion": "v1", "status": "Success", "metadata": {}})
        return self.status(405, "MethodNotAllowed", f"{method} is not served by the judge's API")

    def matching(self, key, namespace, query):
        items = []
        field = query.get("fieldSelector", "")
        want_name = None
        m = re.match(r"metadata\.name=(.+)$", field)
        if m:
            want_name = m.group(1)
        for (ns, name), obj in sorted(self.cluster.objects.get(key, {}).items()):
            if namespace and ns != namespace:
                continue
            if want_name is not None and name != want_name:
                continue
            items.append(obj)
        return items

    def watch(self, key, kind, gv, namespace, query):
        """A watch: the objects there now when asked with sendInitialEvents, then a bookmark
        ending them; then nothing more (nothing changes the objects while Helm waits) until
        the client goes or a minute passes."""
        c = self.cluster
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(doc):
            data = (json.dumps(doc) + "\n").encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        with c.lock:
            items = self.matching(key, namespace, query)
            rv = str(c.rv)
        if query.get("sendInitialEvents") == "true":
            for obj in items:
                chunk({"type": "ADDED", "object": obj})
            chunk(
                {
                    "type": "BOOKMARK",
                    "object": {
                        "kind": kind,
                        "apiVersion": gv,
                        "metadata": {
                            "resourceVersion": rv,
                            "annotations": {"k8s.io/initial-events-end": "true"},
                        },
                    },
                }
            )
        limit = min(float(query.get("timeoutSeconds") or 60), 60)
        end = time.monotonic() + limit
        sock = self.connection
        while time.monotonic() < end and not getattr(self.server, "stopping", False):
            readable, _, _ = select.select([sock], [], [], 0.2)
            if readable:
                try:
                    if not sock.recv(1, socket.MSG_PEEK):
                        break
                except OSError:
                    break
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            pass
        self.close_connection = True


def start_api(cluster):
    handler = type("CaseHandler", (Handler,), {"cluster": cluster})
    # Helm's client opens several connections at once; the default backlog of 5 overflows
    # on a loaded machine.
    server_class = type("CaseServer", (ThreadingHTTPServer,), {"request_queue_size": 128})
    server = server_class(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    return server


def kubeconfig(port):
    return (
        "apiVersion: v1\nkind: Config\nclusters:\n- name: judge\n  cluster:\n"
        f"    server: http://127.0.0.1:{port}\ncontexts:\n- name: judge\n  context:\n"
        "    cluster: judge\n    user: judge\ncurrent-context: judge\nusers:\n- name: judge\n"
        "  user:\n    token: judge\n"
    )


class Helm:
    def __init__(self, lib_path):
        self.lib = ctypes.CDLL(lib_path)
        L = self.lib
        L.helm_sdkpy_last_error.restype = ctypes.c_void_p
        L.helm_sdkpy_version_string.restype = ctypes.c_void_p
        L.helm_sdkpy_free.argtypes = [ctypes.c_void_p]
        L.helm_sdkpy_config_create.argtypes = [ctypes.c_char_p] * 4 + [ctypes.POINTER(ctypes.c_ulonglong)]
        L.helm_sdkpy_config_create.restype = ctypes.c_int
        L.helm_sdkpy_config_destroy.argtypes = [ctypes.c_ulonglong]
        L.helm_sdkpy_install.argtypes = [ctypes.c_ulonglong] + [ctypes.c_char_p] * 5 + [ctypes.POINTER(ctypes.c_void_p)]
        L.helm_sdkpy_install.restype = ctypes.c_int

    def version(self):
        p = self.lib.helm_sdkpy_version_string()
        if not p:
            return "unknown"
        s = ctypes.string_at(p).decode()
        self.lib.helm_sdkpy_free(p)
        return s

    def error(self):
        p = self.lib.helm_sdkpy_last_error()
        return ctypes.string_at(p).decode(errors="replace") if p else "unknown error"

    def install(self, namespace, kubeconfig_text, release, chart, values, timeout):
        handle = ctypes.c_ulonglong(0)
        rc = self.lib.helm_sdkpy_config_create(
            namespace.encode(), kubeconfig_text.encode(), None, b"{}", ctypes.byref(handle)
        )
        if rc != 0:
            raise RuntimeError("config: " + self.error())
        try:
            options = {
                "create_namespace": False,
                "wait": False,
                "timeout_seconds": int(timeout),
                "wait_for_jobs": False,
                "server_side_apply": "false",
                "force_conflicts": False,
                "disable_openapi_validation": True,
                "skip_schema_validation": False,
                "rollback_on_failure": False,
                "take_ownership": False,
            }
            out = ctypes.c_void_p(None)
            rc = self.lib.helm_sdkpy_install(
                handle,
                release.encode(),
                chart.encode(),
                json.dumps(values).encode() if values else b"",
                b"",
                json.dumps(options).encode(),
                ctypes.byref(out),
            )
            if rc != 0:
                raise RuntimeError(self.error())
            text = ctypes.string_at(out.value).decode()
            self.lib.helm_sdkpy_free(out.value)
            return json.loads(text)
        finally:
            self.lib.helm_sdkpy_config_destroy(handle)


TRANSPORT = re.compile(r"connection reset by peer|broken pipe|: EOF$|unexpected EOF")
NO_MATCH = re.compile(r'no matches for kind "([^"]+)" in version "([^"]+)"')


def run_case(helm, spec, case, timeout):
    started = time.monotonic()
    late = []
    result = {"id": case.get("id"), "ok": False}
    transport_retries = 2
    for _attempt in range(8 + transport_retries):
        cluster = Cluster(spec["kube_version"], spec["api_versions"], late)
        server = start_api(cluster)
        try:
            rel = helm.install(
                case.get("namespace", "default"),
                kubeconfig(server.server_address[1]),
                case["release"],
                case["chart"],
                case.get("values") or {},
                timeout,
            )
        except RuntimeError as e:
            msg = str(e)
            # The judge's own API server dropped a connection (a loaded machine): not a
            # verdict of Helm's, so the case runs again on a fresh server, twice at most.
            if transport_retries > 0 and TRANSPORT.search(msg):
                transport_retries -= 1
                continue
            m = NO_MATCH.search(msg)
            if m:
                group, version = split_gv(m.group(2))
                if (group, version, m.group(1)) not in late:
                    late.append((group, version, m.group(1)))
                    continue
            result["error"] = msg
            result["api_log"] = cluster.log[-40:]
            break
        finally:
            server.stopping = True
            server.shutdown()
            server.server_close()
        result.update(
            ok=True,
            manifest=rel.get("manifest", ""),
            hooks=[
                {
                    "path": h.get("path", ""),
                    "kind": h.get("kind", ""),
                    "name": h.get("name", ""),
                    "events": h.get("events") or [],
                    "manifest": h.get("manifest", ""),
                }
                for h in rel.get("hooks") or []
            ],
            notes=(rel.get("info") or {}).get("notes", ""),
        )
        break
    result["late_kinds"] = ["/".join(x for x in k if x) for k in late]
    result["seconds"] = round(time.monotonic() - started, 3)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lib", required=True, help="libhelm_sdkpy.so from the helm-sdkpy wheel")
    ap.add_argument("--cases", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--timeout", type=float, default=60, help="seconds a case may take")
    ap.add_argument("--jobs", type=int, default=2, help="cases rendered at once")
    args = ap.parse_args()
    with open(args.cases, encoding="utf-8") as f:
        spec = json.load(f)
    # Helm's and client-go's homes, caches and release storage, private to this run: the
    # Go runtime reads the environment the process started with, so the script starts
    # itself again with them set.
    if os.environ.get("HELM_JUDGE_HOME") is None:
        home = tempfile.mkdtemp(prefix="helm-judge-")
        env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
        for var, sub in [
            ("HELM_JUDGE_HOME", ""),
            ("HOME", ""),
            ("HELM_CACHE_HOME", "cache"),
            ("HELM_CONFIG_HOME", "config"),
            ("HELM_DATA_HOME", "data"),
            ("KUBECACHEDIR", "kubecache"),
        ]:
            env[var] = os.path.join(home, sub)
        env["HELM_DRIVER"] = "memory"
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:], env)
    helm = Helm(args.lib)
    out = {"helm": helm.version(), "cases": [None] * len(spec["cases"])}
    todo = list(enumerate(spec["cases"]))
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                i, case = todo.pop(0)
            out["cases"][i] = run_case(helm, spec, case, args.timeout)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, args.jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
