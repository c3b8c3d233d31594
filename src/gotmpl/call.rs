//! How the executor calls a function: its type ([`Builtin`]), what it gives back
//! ([`FResult`], [`Fail`]) and what it may ask of the template running it ([`Caller`]).
//! The executor (`exec.rs`) implements [`Caller`]; the functions (`funcs/`) know the
//! executor only through it.

use super::value::Value;
use super::{Error, Limits};

/// Why a function failed: a message ("error calling NAME: ..." is added), or an error that
/// already names its place (from a template `include` or `tpl` ran).
pub(crate) enum Fail {
    Msg(String),
    Raw(Error),
}

impl From<String> for Fail {
    fn from(s: String) -> Fail {
        Fail::Msg(s)
    }
}
impl From<&str> for Fail {
    fn from(s: &str) -> Fail {
        Fail::Msg(s.to_string())
    }
}
impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail::Raw(e)
    }
}

pub(crate) type FResult = Result<Value, Fail>;
/// A function: the template running it and the arguments.
pub(crate) type Builtin = fn(&mut dyn Caller, Vec<Value>) -> FResult;

/// What a function may ask of the template running it.
pub(crate) trait Caller {
    /// The bounds the set enforces.
    fn limits(&self) -> &Limits;
    /// The steps evaluated so far: the random functions' seed, so that two calls draw
    /// differently and the same template still renders the same bytes.
    fn steps(&self) -> u64;
    /// Renders template `name` with `dot` into a string (`include`).
    fn include(&mut self, name: &str, dot: Value) -> Result<String, Error>;
    /// Parses `text` as a template (its `define`s visible to it and what it calls) and
    /// renders it with `dot` (`tpl`).
    fn tpl(&mut self, text: &str, dot: Value) -> Result<String, Error>;
}
