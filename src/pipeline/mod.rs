//! The build pipeline: the layer between the command line and the capabilities. It turns
//! a loaded config into ordered steps ([`plan`]; each step in its own file under
//! [`steps`]), runs them ([`run`]), skipping those whose inputs and outputs are unchanged
//! ([`state`]), seals the output ([`seal`]), and owns what surrounds a build: the output
//! lock ([`build_lock`]), `seedforge.lock` refreshed without a build ([`lock`]), what a failed build puts back ([`undo`]), `--offline` ([`offline`], [`offline_files`]), `export_dir`
//! ([`export`]), `clean` ([`clean`]), the modes of the output ([`modes`]) and what a sealed
//! output holds that its seal does not cover ([`unsealed`]).

pub mod build_lock;
pub mod clean;
pub mod export;
pub mod lock;
pub mod modes;
pub mod offline;
pub mod offline_files;
mod offline_images;
pub mod parity;
pub mod plan;
pub mod run;
pub mod seal;
pub mod split;
pub mod state;
pub mod steps;
pub mod undo;
pub mod unsealed;
