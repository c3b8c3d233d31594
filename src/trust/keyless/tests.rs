//! Tests of the keyless checks with real Sigstore material.
