//! The certificate path, logs and identity of a keyless signature judged by cosign (in progress).
