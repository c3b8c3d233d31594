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
    critical-ca ... by an intermediate carrying an unknown critical extension (listed)
    eku-server  ... by an intermediate whose extended key usage is serverAuth only (listed)
    v1-ca       ... by a version 1 intermediate (no extensions, so no basicConstraints;
                listed)
    nc-email    ... by the intermediate of a root whose name constraints permit only
                emails of example.org (listed: nc-email-inter, nc-email-root)
    nc-ok       ... of a root permitting emails of seedforge.test (listed): passes
    nc-dirname  ... of a root constraining directory names, critical (listed)

and, for the leaf, the logs and the identity:

    critical-leaf  the leaf carries an unknown critical extension
    bad-ext        the leaf's GitHub workflow extension 1.3.6.1.4.1.57264.1.12 is raw bytes,
                   not the DER UTF8String Fulcio writes
    good-ext       the leaf carries well-formed workflow extensions (.1.5 raw, .1.12 DER)
    two-scts       the leaf embeds two SCTs: one by the second CT key (which no trusted root
                   lists), then the good one
    checkpoint-key the checkpoint is signed by the second log key (which the trusted root
                   lists as another log), not by this entry's log's
    ed25519        the leaf's key is Ed25519, the hashedrekord digest SHA-512 (blob only)
    ed25519-sha256 the same with a SHA-256 hashedrekord digest (blob only)
    p521           the leaf's key is on P-521
    sha512-sig     the leaf is signed with ecdsa-with-SHA512

$ID may be "othername:NAME" (the SAN is Fulcio's username otherName,
1.3.6.1.4.1.57264.1.7, holding NAME) or "othername-foreign:NAME" (an otherName of
another type, 1.3.6.1.4.1.99999.7).

    keyless.py blob DIR FILE            a message signature over FILE, its hashedrekord log
                                        entry: FILE.sigstore.json (a bundle v0.3 with the
                                        inclusion proof and checkpoint), and the classic
                                        form: FILE.sig, FILE.cert.pem, FILE.chain.pem,
                                        FILE.rekor.json

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
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
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


def sub_ca(d, name, parent, key_usage=None, ca=True, path_length=None, expired=False,
           eku=None, extra=(), version1=False):
    """An intermediate NAME issued by the CA PARENT (prefix of its .key and .pem): EXTRA
    more (extension, critical) pairs, EKU its extended key usages (code signing), VERSION1
    made again as a version 1 certificate (no extensions)."""
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
        .add_extension(
            x509.ExtendedKeyUsage(eku or [ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(parent_key.public_key()), critical=False
        )
    )
    for ext, critical in extra:
        cert = cert.add_extension(ext, critical=critical)
    cert = cert.sign(parent_key, hashes.SHA384())
    if version1:
        cert = as_version_1(cert, parent_key)
    write_key(f"{d}/{name}.key", key)
    with open(f"{d}/{name}.pem", "wb") as f:
        f.write(pem(cert))


def tlv(tag, content):
    """A DER element."""
    n = len(content)
    if n < 0x80:
        head = bytes([tag, n])
    elif n < 0x100:
        head = bytes([tag, 0x81, n])
    else:
        head = bytes([tag, 0x82, n >> 8, n & 0xFF])
    return head + content


def elements(der):
    """The DER elements (whole) of a DER element's content."""
    out = []
    while der:
        n, head = der[1], 2
        if n & 0x80:
            k = n & 0x7F
            n, head = int.from_bytes(der[2 : 2 + k], "big"), 2 + k
        out.append(der[: head + n])
        der = der[head + n :]
    return out


def content(der):
    n = der[1]
    return der[2 + (n & 0x7F if n & 0x80 else 0) :]


def as_version_1(cert, parent_key):
    """CERT made again as a version 1 certificate: no version field, no extensions, signed
    by PARENT_KEY."""
    parts = elements(content(cert.public_bytes(serialization.Encoding.DER)))
    tbs = tlv(0x30, b"".join(e for e in elements(content(parts[0])) if e[0] not in (0xA0, 0xA3)))
    signature = parent_key.sign(tbs, ec.ECDSA(hashes.SHA384()))
    der = tlv(0x30, tbs + parts[1] + tlv(0x03, b"\x00" + signature))
    return x509.load_der_x509_certificate(der)


def unknown_critical():
    return x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")


def root_ca(d, name, extra=()):
    """A self-signed root NAME with no path length limit, EXTRA more (extension, critical)
    pairs."""
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
    )
    for ext, critical in extra:
        cert = cert.add_extension(ext, critical=critical)
    cert = cert.sign(key, hashes.SHA384())
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
    "critical-ca": ("critical-inter", ["critical-inter", "fulcio-root"]),
    "eku-server": ("eku-server-inter", ["eku-server-inter", "fulcio-root"]),
    "v1-ca": ("v1-inter", ["v1-inter", "fulcio-root"]),
    "nc-email": ("nc-email-inter", ["nc-email-inter", "nc-email-root"]),
    "nc-ok": ("nc-ok-inter", ["nc-ok-inter", "nc-ok-root"]),
    "nc-dirname": ("nc-dirname-inter", ["nc-dirname-inter", "nc-dirname-root"]),
}
LISTED = {
    "expired-chain.pem": ["expired-inter", "fulcio-root"],
    "not-ca-chain.pem": ["not-ca-inter", "fulcio-root"],
    "no-certsign-chain.pem": ["no-certsign-inter", "fulcio-root"],
    "pathlen0-chain.pem": ["pathlen0-sub", "fulcio-inter", "fulcio-root"],
    "open-chain.pem": ["open-inter", "open-root"],
    "cut-chain.pem": ["cut-root"],
    "critical-chain.pem": ["critical-inter", "fulcio-root"],
    "eku-server-chain.pem": ["eku-server-inter", "fulcio-root"],
    "v1-chain.pem": ["v1-inter", "fulcio-root"],
    "nc-email-chain.pem": ["nc-email-inter", "nc-email-root"],
    "nc-ok-chain.pem": ["nc-ok-inter", "nc-ok-root"],
    "nc-dirname-chain.pem": ["nc-dirname-inter", "nc-dirname-root"],
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
    sub_ca(d, "critical-inter", "fulcio-root", extra=[(unknown_critical(), True)])
    sub_ca(d, "eku-server-inter", "fulcio-root", eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    sub_ca(d, "v1-inter", "fulcio-root", version1=True)
    email = lambda domain: x509.NameConstraints([x509.RFC822Name(domain)], None)
    root_ca(d, "nc-email-root", extra=[(email("example.org"), True)])
    sub_ca(d, "nc-email-inter", "nc-email-root")
    root_ca(d, "nc-ok-root", extra=[(email("seedforge.test"), True)])
    sub_ca(d, "nc-ok-inter", "nc-ok-root")
    directory = x509.NameConstraints([x509.DirectoryName(subject("nobody"))], None)
    root_ca(d, "nc-dirname-root", extra=[(directory, True)])
    sub_ca(d, "nc-dirname-inter", "nc-dirname-root")
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
    write_key(f"{d}/rekor2.key", ec.generate_private_key(ec.SECP256R1()))
    with open(f"{d}/log.json", "w") as f:
        json.dump({"leaves": []}, f)


def one_sct(ct_key, issuer_key, tbs, millis):
    """An RFC 6962 SCT (v1, precert entry), TLS-encoded."""
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
    return (
        b"\x00"
        + hashlib.sha256(der_spki(ct_key)).digest()
        + struct.pack(">QH", millis, 0)
        + b"\x04\x03"
        + struct.pack(">H", len(signature))
        + signature
    )


def sct_extension(ct_keys, issuer_key, tbs, millis):
    """RFC 6962 SignedCertificateTimestampList (an SCT by each of CT_KEYS) as the
    extension's value: an OCTET STRING holding the TLS-encoded list."""
    scts = [one_sct(k, issuer_key, tbs, millis) for k in ct_keys]
    body = b"".join(struct.pack(">H", len(x)) + x for x in scts)
    return tlv(0x04, struct.pack(">H", len(body)) + body)


def leaf_key():
    if MUTATE.startswith("ed25519"):
        return ed25519.Ed25519PrivateKey.generate()
    if MUTATE == "p521":
        return ec.generate_private_key(ec.SECP521R1())
    return ec.generate_private_key(ec.SECP256R1())


def sign(key, data):
    """KEY's signature over DATA: ECDSA with SHA-256, or Ed25519."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    return ecdsa(key, data)


def san():
    """The leaf's subject alternative name, from $ID."""
    kind, _, name = SIGNER.partition(":")
    if kind in ("othername", "othername-foreign") and name:
        oid = "1.3.6.1.4.1.57264.1.7" if kind == "othername" else "1.3.6.1.4.1.99999.7"
        return x509.OtherName(ObjectIdentifier(oid), tlv(0x0C, name.encode()))
    if "://" in SIGNER:
        return x509.UniformResourceIdentifier(SIGNER)
    return x509.RFC822Name(SIGNER)


def leaf_extensions():
    """(extension, critical) pairs the leaf carries besides Fulcio's usual ones."""
    raw = lambda oid, value: x509.UnrecognizedExtension(ObjectIdentifier(oid), value)
    repo = b"https://github.com/seedforge/seedforge"
    if MUTATE == "critical-leaf":
        return [(unknown_critical(), True)]
    if MUTATE == "bad-ext":
        return [(raw("1.3.6.1.4.1.57264.1.12", repo), False)]
    if MUTATE == "good-ext":
        return [
            (raw("1.3.6.1.4.1.57264.1.5", b"seedforge/seedforge"), False),
            (raw("1.3.6.1.4.1.57264.1.12", tlv(0x0C, repo)), False),
        ]
    return []


def leaf_hash():
    """The hash the intermediate signs the leaf with."""
    return hashes.SHA512() if MUTATE == "sha512-sig" else hashes.SHA384()


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
    key = leaf_key()
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
        .add_extension(x509.SubjectAlternativeName([san()]), critical=True)
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
    for ext, critical in leaf_extensions():
        builder = builder.add_extension(ext, critical=critical)
    if MUTATE != "no-sct":
        precert = builder.sign(inter_key, leaf_hash())
        ct_keys = [read_key(f"{d}/{'foreign-ctfe' if MUTATE == 'sct' else 'ctfe'}.key")]
        if MUTATE == "two-scts":
            ct_keys.insert(0, read_key(f"{d}/foreign-ctfe.key"))
        ext = sct_extension(
            ct_keys, inter.public_key(), precert.tbs_certificate_bytes, int(now.timestamp() * 1000)
        )
        builder = builder.add_extension(x509.UnrecognizedExtension(SCT_OID, ext), critical=False)
    cert = builder.sign(inter_key, leaf_hash())
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
    note_key = read_key(f"{d}/rekor2.key") if MUTATE == "checkpoint-key" else log_key
    note_signature = ecdsa(note_key, note.encode())
    if MUTATE == "checkpoint":
        note_signature = flip(note_signature, 12)
    hint = hashlib.sha256(der_spki(note_key)).digest()[:4]
    checkpoint = note + "\n" + f"\u2014 {LOG_ORIGIN} {b64(hint + note_signature)}\n"
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
    signature = sign(key, payload)
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
    signature = sign(key, pae)
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


def blob(d, path):
    now = datetime.datetime.now(datetime.timezone.utc)
    key, cert, _ = leaf(d, now)
    with open(path, "rb") as f:
        payload = f.read()
    signature = sign(key, payload)
    sha512 = MUTATE == "ed25519"
    digest = (hashlib.sha512 if sha512 else hashlib.sha256)(payload)
    body = canonical(
        {
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha512" if sha512 else "sha256", "value": digest.hexdigest()}},
                "signature": {
                    "content": b64(logged_signature(signature)),
                    "publicKey": {"content": b64(pem(cert))},
                },
            },
        }
    )
    entry, rekor_bundle = append(d, body, now)
    out = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {
            "certificate": {"rawBytes": b64(cert.public_bytes(serialization.Encoding.DER))},
            "tlogEntries": [entry],
        },
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_512" if sha512 else "SHA2_256", "digest": b64(digest.digest())},
            "signature": b64(signature),
        },
    }
    with open(path + ".sigstore.json", "w") as f:
        json.dump(out, f, indent=1)
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


if __name__ == "__main__":
    command, folder = sys.argv[1], sys.argv[2]
    if command == "init":
        init(folder)
    elif command == "classic":
        classic(folder, sys.argv[3])
    elif command == "bundle":
        bundle(folder, sys.argv[3])
    elif command == "blob":
        blob(folder, sys.argv[3])
    else:
        sys.exit(f"keyless.py: unknown command {command}")
