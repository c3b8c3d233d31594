//! Sprig's functions.

use super::Builtin;
use std::collections::HashMap;

pub(super) fn add(_m: &mut HashMap<&'static str, Builtin>) {}
