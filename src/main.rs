//! The `seedforge` binary: parse arguments, set up logging, run, map errors to exit codes.

mod cli;

fn main() {
    // Printing to a stdout that cannot be written is not a bug: `cli::stdio` unwinds with
    // `BrokenPipe` (a closed pipe: we end quietly, like other Unix tools) or
    // `StdoutFailed` (a full disk: we say so on stderr), without the panic hook, so with
    // no panic message.
    let code = match std::panic::catch_unwind(cli::main) {
        Ok(code) => code,
        Err(payload) => match cli::stdio::unwound(payload) {
            Ok(code) => code,
            Err(payload) => std::panic::resume_unwind(payload),
        },
    };
    std::process::exit(code);
}

/// `pow` for the whole binary (Rust's `f64::powf`, used by the progress bars and the
/// runtime, is a call to the C function of that name), from the `libm` crate: with every
/// math function the binary needs defined here, the linker drops libm.so.6, one library
/// fewer to find and read when the binary starts from a cold page cache (with glibc, `pow`
/// is the only one; `libm` is a port of musl's, accurate to within one unit in the last
/// place).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(
    unsafe_code,
    reason = "an unmangled symbol: the C library's `pow`, nothing else"
)]
#[unsafe(no_mangle)]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

#[cfg(test)]
mod tests {
    #[test]
    fn powf_through_the_binary_s_pow_is_exact_where_it_must_be() {
        // Through the symbol, as the rest of the binary calls it.
        let pow = std::hint::black_box(f64::powf);
        assert_eq!(pow(2.0, 10.0), 1024.0);
        assert_eq!(pow(1024.0, 0.5), 32.0);
        assert!((pow(10.0, -2.5) - 0.003_162_277_660_168_379_5).abs() < 1e-18);
        assert!(pow(-1.0, 0.5).is_nan());
        assert_eq!(pow(0.0, -1.0), f64::INFINITY);
    }
}
