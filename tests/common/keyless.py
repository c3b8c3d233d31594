#!/usr/bin/env python3
"""A private Sigstore for the keyless tests, offline: python3 and python3-cryptography only.

    keyless.py init DIR                 a Fulcio-like CA (root, intermediate with EKU
                                        codeSigning), a CT log key, a transparency log key,
                                        and a second CA and CT key that no trusted root names
    keyless.py classic DIR PAYLOAD      a leaf certificate (embedded SCT), an ECDSA signature
                                        over PAYLOAD and a hashedrekord log entry with its SET:
                                        PAYLOAD.sig (base64), PAYLOAD.cert.pem, PAYLOAD.rekor.json
                                        (what `cosign attach signature --rekor-response` reads)
    keyless.py bundle DIR STATEMENT     a Sigstore bundle v0.3 holding a DSSE envelope of the
                                        in-toto STATEMENT, its dsse log entry with SET,
                                        inclusion proof and signed checkpoint: STATEMENT.sigstore.json

The signer is $ID (an email, or a URI when it holds "://"; default dev@seedforge.test) of the
issuer $ISSUER (default https://issuer.seedforge.test). $MUTATE makes one part wrong, as a
forger or a broken signer would:

    chain       the leaf is issued by the second CA (not in the trusted root)
    sct         the embedded SCT is signed by the second CT key (a foreign log)
    no-sct      the leaf carries no SCT
    set         one byte of the SET changed
    proof       one byte of the inclusion proof's first hash changed (bundle only)
    checkpoint  one byte of the checkpoint's signature changed (bundle only)
    entry       the log entry is for another signature (the entry's body names it)

and, for the certificate path (init makes these CAs and `cosign trusted-root create` lists
each chain named below as a CA entry of its own):

    expired-ca  the leaf is issued by an intermediate of the root that expired before the
                signing time (listed: expired-inter, fulcio-root)
    not-ca      ... by an intermediate with basicConstraints CA:false (listed)
    no-certsign ... by an intermediate whose keyUsage lacks keyCertSign (listed)
    pathlen0    ... by a sub-CA under the pathlen:0 intermediate (listed: sub, intermediate,
                root)
    carried-sub ... by a sub-CA of an intermediate with no path limit; the sub-CA is only in
                the signature's chain (listed: open-inter, open-root)
    cut         ... by an intermediate whose root is listed alone, the intermediate removed
                (listed: cut-root), the signature carrying it
    issuers     the leaf's issuer extensions disagree (.1.8 the issuer, .1.1 another)

The log (DIR/log.json) is a small RFC 6962 Merkle tree: a few other leaves before and after
each entry, so the inclusion proof is not trivial, and a signed note checkpoint of its root.
"""
import base64
import datetime
import hashlib
import json
import os
import struct
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

SIGNER = os.environ.get("ID", "dev@seedforge.test")
ISSUER = os.environ.get("ISSUER", "https://issuer.seedforge.test")
MUTATE = os.environ.get("MUTATE", "")
LOG_ORIGIN = "log.seedforge.test"
LOG_TREE_ID = 1977
SCT_OID = ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
ISSUER_V1_OID = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
ISSUER_V2_OID = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")


def b64(data):
    return base64.b64encode(data).decode()


def der_spki(key):
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def ecdsa(key, data):
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def flip(data, at=None):
    data = bytearray(data)
    data[len(data) // 2 if at is None else at] ^= 0x01
    return bytes(data)


def write_key(path, key):
    with open(path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    with open(path[: -len(".key")] + ".pub", "wb") as f:
        f.write(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )


def read_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def read_cert(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def subject(cn):
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "seedforge.test"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def ca_key_usage():
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def make_ca(d, prefix):
    """A root and an intermediate (EKU codeSigning), valid from a day ago for ten years."""
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=3650)
    root_key = ec.generate_private_key(ec.SECP384R1())
    inter_key = ec.generate_private_key(ec.SECP384R1())
    root = (
        x509.CertificateBuilder()
        .subject_name(subject(f"{prefix}-root"))
        .issuer_name(subject(f"{prefix}-root"))
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA384())
    )
    inter = (
        x509.CertificateBuilder()
        .subject_name(subject(f"{prefix}-intermediate"))
        .issuer_name(root.subject)
        .public_key(inter_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(ca_key_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(inter_key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA384())
    )
    write_key(f"{d}/{prefix}-root.key", root_key)
    write_key(f"{d}/{prefix}-inter.key", inter_key)
    with open(f"{d}/{prefix}-chain.pem", "wb") as f:
        f.write(pem(inter) + pem(root))
    with open(f"{d}/{prefix}-inter.pem", "wb") as f:
        f.write(pem(inter))
    with open(f"{d}/{prefix}-root.pem", "wb") as f:
        f.write(pem(root))


def sub_ca(d, name, parent, key_usage=None, ca=True, path_length=None, expired=False):
    """An intermediate NAME issued by the CA PARENT (prefix of its .key and .pem)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=3650)
    if expired:
        start, end = now - datetime.timedelta(days=400), now - datetime.timedelta(days=300)
    parent_key = read_key(f"{d}/{parent}.key")
    parent_cert = read_cert(f"{d}/{parent}.pem")
    key = ec.generate_private_key(ec.SECP384R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject(name))
        .issuer_name(parent_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(key_usage or ca_key_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(parent_key.public_key()), critical=False
        )
        .sign(parent_key, hashes.SHA384())
    )
    write_key(f"{d}/{name}.key", key)
    with open(f"{d}/{name}.pem", "wb") as f:
        f.write(pem(cert))


def root_ca(d, name):
    """A self-signed root NAME with no path length limit."""
    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP384R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject(name))
        .issuer_name(subject(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA384())
    )
    write_key(f"{d}/{name}.key", key)
    with open(f"{d}/{name}.pem", "wb") as f:
        f.write(pem(cert))


def cat(d, out, names):
    with open(f"{d}/{out}", "wb") as f:
        for name in names:
            with open(f"{d}/{name}.pem", "rb") as g:
                f.write(g.read())


# The certificate path cases: MUTATE -> (the leaf's issuer, the chain the signature
# carries); and the chains the trusted root lists beside fulcio's, each a CA entry.
PATH_CASES = {
    "expired-ca": ("expired-inter", ["expired-inter", "fulcio-root"]),
    "not-ca": ("not-ca-inter", ["not-ca-inter", "fulcio-root"]),
    "no-certsign": ("no-certsign-inter", ["no-certsign-inter", "fulcio-root"]),
    "pathlen0": ("pathlen0-sub", ["pathlen0-sub", "fulcio-inter", "fulcio-root"]),
    "carried-sub": ("open-sub", ["open-sub", "open-inter", "open-root"]),
    "cut": ("cut-inter", ["cut-inter", "cut-root"]),
}
LISTED = {
    "expired-chain.pem": ["expired-inter", "fulcio-root"],
    "not-ca-chain.pem": ["not-ca-inter", "fulcio-root"],
    "no-certsign-chain.pem": ["no-certsign-inter", "fulcio-root"],
    "pathlen0-chain.pem": ["pathlen0-sub", "fulcio-inter", "fulcio-root"],
    "open-chain.pem": ["open-inter", "open-root"],
    "cut-chain.pem": ["cut-root"],
}


def path_cas(d):
    """The CAs of the certificate path cases (see PATH_CASES and LISTED)."""
    sub_ca(d, "expired-inter", "fulcio-root", expired=True)
    sub_ca(d, "not-ca-inter", "fulcio-root", ca=False)
    no_certsign = x509.KeyUsage(True, False, False, False, False, False, True, False, False)
    sub_ca(d, "no-certsign-inter", "fulcio-root", key_usage=no_certsign)
    sub_ca(d, "pathlen0-sub", "fulcio-inter")
    root_ca(d, "open-root")
    sub_ca(d, "open-inter", "open-root")
    sub_ca(d, "open-sub", "open-inter")
    root_ca(d, "cut-root")
    sub_ca(d, "cut-inter", "cut-root")
    for out, names in LISTED.items():
        cat(d, out, names)


def init(d):
    os.makedirs(d, exist_ok=True)
    make_ca(d, "fulcio")
    make_ca(d, "foreign")
    path_cas(d)
    write_key(f"{d}/ctfe.key", ec.generate_private_key(ec.SECP256R1()))
    write_key(f"{d}/foreign-ctfe.key", ec.generate_private_key(ec.SECP256R1()))
    write_key(f"{d}/rekor.key", ec.generate_private_key(ec.SECP256R1()))
    with open(f"{d}/log.json", "w") as f:
        json.dump({"leaves": []}, f)


def sct_extension(ct_key, issuer_key, tbs, millis):
    """RFC 6962 SignedCertificateTimestampList (v1, precert entry) as the extension's
    value: an OCTET STRING holding the TLS-encoded list."""
    issuer_key_hash = hashlib.sha256(issuer_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).digest()
    signed = (
        struct.pack(">BBQH", 0, 0, millis, 1)
        + issuer_key_hash
        + len(tbs).to_bytes(3, "big")
        + tbs
        + b"\x00\x00"
    )
    signature = ecdsa(ct_key, signed)
    sct = (
        b"\x00"
        + hashlib.sha256(der_spki(ct_key)).digest()
        + struct.pack(">QH", millis, 0)
        + b"\x04\x03"
        + struct.pack(">H", len(signature))
        + signature
    )
    sct_list = struct.pack(">H", len(sct) + 2) + struct.pack(">H", len(sct)) + sct
    n = len(sct_list)
    length = bytes([n]) if n < 128 else b"\x81" + bytes([n])
    return b"\x04" + length + sct_list


def leaf(d, now):
    """A Fulcio-like leaf: ten minutes of life, the signer as SAN, the issuer in both
    extensions, and (unless mutated) an embedded SCT. Returns (key, cert, chain PEM)."""
    if MUTATE in PATH_CASES:
        name = PATH_CASES[MUTATE][0]
        inter_key = read_key(f"{d}/{name}.key")
        inter = read_cert(f"{d}/{name}.pem")
    else:
        ca = "foreign" if MUTATE == "chain" else "fulcio"
        inter_key = read_key(f"{d}/{ca}-inter.key")
        inter = read_cert(f"{d}/{ca}-inter.pem")
    key = ec.generate_private_key(ec.SECP256R1())
    san = x509.UniformResourceIdentifier(SIGNER) if "://" in SIGNER else x509.RFC822Name(SIGNER)
    issuer = ISSUER.encode()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(inter.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(seconds=30))
        .not_valid_after(now + datetime.timedelta(minutes=10))
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(inter_key.public_key()), critical=False
        )
        .add_extension(x509.SubjectAlternativeName([san]), critical=True)
        .add_extension(
            x509.UnrecognizedExtension(
                ISSUER_V1_OID, b"https://other.seedforge.test" if MUTATE == "issuers" else issuer
            ),
            critical=False,
        )
        .add_extension(
            x509.UnrecognizedExtension(ISSUER_V2_OID, b"\x0c" + bytes([len(issuer)]) + issuer),
            critical=False,
        )
    )
    if MUTATE != "no-sct":
        precert = builder.sign(inter_key, hashes.SHA384())
        ct_key = read_key(f"{d}/{'foreign-ctfe' if MUTATE == 'sct' else 'ctfe'}.key")
        ext = sct_extension(
            ct_key, inter.public_key(), precert.tbs_certificate_bytes, int(now.timestamp() * 1000)
        )
        builder = builder.add_extension(x509.UnrecognizedExtension(SCT_OID, ext), critical=False)
    cert = builder.sign(inter_key, hashes.SHA384())
    if MUTATE != "no-sct":
        assert cert.tbs_precertificate_bytes == precert.tbs_certificate_bytes
    return key, cert, leaf_chain(d)


def tree_hash(leaves):
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + tree_hash(leaves[:k]) + tree_hash(leaves[k:])).digest()


def audit_path(m, leaves):
    if len(leaves) == 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if m < k:
        return audit_path(m, leaves[:k]) + [tree_hash(leaves[k:])]
    return audit_path(m - k, leaves[k:]) + [tree_hash(leaves[:k])]


def append(d, body, now):
    """Appends `body` to the log: its transparency log entry (bundle form) and cosign's
    rekor bundle (the classic form's), both with the SET."""
    log_key = read_key(f"{d}/rekor.key")
    with open(f"{d}/log.json") as f:
        log = json.load(f)
    filler = lambda: b64(hashlib.sha256(b"\x00" + os.urandom(32)).digest())
    while len(log["leaves"]) < 5:
        log["leaves"].append(filler())
    index = len(log["leaves"])
    log["leaves"].append(b64(hashlib.sha256(b"\x00" + body).digest()))
    log["leaves"].append(filler())
    with open(f"{d}/log.json", "w") as f:
        json.dump(log, f)
    leaves = [base64.b64decode(x) for x in log["leaves"]]
    root = tree_hash(leaves)
    log_id = hashlib.sha256(der_spki(log_key)).digest()
    integrated = int(now.timestamp())
    promise = ecdsa(
        log_key,
        canonical(
            {"body": b64(body), "integratedTime": integrated, "logID": log_id.hex(), "logIndex": index}
        ),
    )
    if MUTATE == "set":
        promise = flip(promise, 10)
    note = f"{LOG_ORIGIN} - {LOG_TREE_ID}\n{len(leaves)}\n{b64(root)}\n"
    note_signature = ecdsa(log_key, note.encode())
    if MUTATE == "checkpoint":
        note_signature = flip(note_signature, 12)
    checkpoint = note + "\n" + f"\u2014 {LOG_ORIGIN} {b64(log_id[:4] + note_signature)}\n"
    proof = audit_path(index, leaves)
    if MUTATE == "proof":
        proof[0] = flip(proof[0], 3)
    entry = {
        "logIndex": str(index),
        "logId": {"keyId": b64(log_id)},
        "kindVersion": {"kind": json.loads(body)["kind"], "version": "0.0.1"},
        "integratedTime": str(integrated),
        "inclusionPromise": {"signedEntryTimestamp": b64(promise)},
        "inclusionProof": {
            "logIndex": str(index),
            "rootHash": b64(root),
            "treeSize": str(len(leaves)),
            "hashes": [b64(h) for h in proof],
            "checkpoint": {"envelope": checkpoint},
        },
        "canonicalizedBody": b64(body),
    }
    rekor_bundle = {
        "SignedEntryTimestamp": b64(promise),
        "Payload": {
            "body": b64(body),
            "integratedTime": integrated,
            "logIndex": index,
            "logID": log_id.hex(),
        },
    }
    return entry, rekor_bundle


def logged_signature(signature):
    """The signature the log entry names: another one when MUTATE=entry."""
    return flip(signature, 8) if MUTATE == "entry" else signature


def classic(d, path):
    now = datetime.datetime.now(datetime.timezone.utc)
    key, cert, _ = leaf(d, now)
    with open(path, "rb") as f:
        payload = f.read()
    signature = ecdsa(key, payload)
    body = canonical(
        {
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()}},
                "signature": {
                    "content": b64(logged_signature(signature)),
                    "publicKey": {"content": b64(pem(cert))},
                },
            },
        }
    )
    _, rekor_bundle = append(d, body, now)
    with open(path + ".sig", "w") as f:
        f.write(b64(signature))
    with open(path + ".cert.pem", "wb") as f:
        f.write(pem(cert))
    with open(path + ".chain.pem", "wb") as f:
        f.write(leaf_chain(d))
    with open(path + ".rekor.json", "w") as f:
        json.dump(
            {"base64Signature": b64(signature), "cert": b64(pem(cert)), "rekorBundle": rekor_bundle}, f
        )


def leaf_chain(d):
    """The chain the signature carries."""
    if MUTATE in PATH_CASES:
        data = b""
        for name in PATH_CASES[MUTATE][1]:
            with open(f"{d}/{name}.pem", "rb") as f:
                data += f.read()
        return data
    ca = "foreign" if MUTATE == "chain" else "fulcio"
    with open(f"{d}/{ca}-chain.pem", "rb") as f:
        return f.read()


def bundle(d, path, payload_type="application/vnd.in-toto+json"):
    now = datetime.datetime.now(datetime.timezone.utc)
    key, cert, _ = leaf(d, now)
    with open(path, "rb") as f:
        payload = f.read()
    pae = b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type.encode(), len(payload), payload)
    signature = ecdsa(key, pae)
    envelope = {"payload": b64(payload), "payloadType": payload_type, "signatures": [{"sig": b64(signature)}]}
    logged = dict(envelope, signatures=[{"sig": b64(logged_signature(signature))}])
    body = canonical(
        {
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": {"algorithm": "sha256", "value": hashlib.sha256(canonical(logged)).hexdigest()},
                "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
                "signatures": [
                    {"signature": b64(logged_signature(signature)), "verifier": b64(pem(cert))}
                ],
            },
        }
    )
    entry, _ = append(d, body, now)
    out = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {
            "certificate": {"rawBytes": b64(cert.public_bytes(serialization.Encoding.DER))},
            "tlogEntries": [entry],
        },
        "dsseEnvelope": envelope,
    }
    with open(path + ".sigstore.json", "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    command, folder = sys.argv[1], sys.argv[2]
    if command == "init":
        init(folder)
    elif command == "classic":
        classic(folder, sys.argv[3])
    elif command == "bundle":
        bundle(folder, sys.argv[3])
    else:
        sys.exit(f"keyless.py: unknown command {command}")
