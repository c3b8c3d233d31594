//! GF(2^16) as PAR 2.0 defines it: polynomials over GF(2) modulo the generator
//! x^16 + x^12 + x^3 + x + 1 (`0x1100B`), whose root 2 generates the field's 65,535
//! non-zero elements. Addition is XOR; multiplication goes through log and antilog tables.

/// The field's generator polynomial.
pub const GENERATOR: u32 = 0x1100B;
/// The number of non-zero elements, the order of 2.
pub const ORDER: u32 = 65_535;

/// Log and antilog tables of the field.
pub struct Field {
    log: Vec<u16>,
    exp: Vec<u16>,
}

impl Field {
    /// The tables, built by repeated multiplication by 2 (one shift and a reduction).
    pub fn new() -> Field {
        let mut log = vec![0u16; 1 << 16];
        let mut exp = vec![0u16; (ORDER as usize) * 2];
        let mut b: u32 = 1;
        for (i, slot) in exp.iter_mut().take(ORDER as usize).enumerate() {
            *slot = b as u16;
            log[b as usize] = i as u16;
            b <<= 1;
            if b & 0x1_0000 != 0 {
                b ^= GENERATOR;
            }
        }
        for i in 0..ORDER as usize {
            exp[ORDER as usize + i] = exp[i];
        }
        Field { log, exp }
    }

    /// a · b.
    pub fn mul(&self, a: u16, b: u16) -> u16 {
        if a == 0 || b == 0 {
            return 0;
        }
        self.exp[self.log[a as usize] as usize + self.log[b as usize] as usize]
    }

    /// a / b, `None` when b is zero.
    pub fn div(&self, a: u16, b: u16) -> Option<u16> {
        if b == 0 {
            return None;
        }
        if a == 0 {
            return Some(0);
        }
        let l = self.log[a as usize] as usize + ORDER as usize - self.log[b as usize] as usize;
        Some(self.exp[l % ORDER as usize])
    }

    /// 2^e.
    pub fn exp2(&self, e: u64) -> u16 {
        self.exp[(e % ORDER as u64) as usize]
    }

    /// base^e.
    #[cfg(test)]
    pub fn pow(&self, base: u16, e: u64) -> u16 {
        if base == 0 {
            return u16::from(e == 0);
        }
        self.exp2(u64::from(self.log[base as usize]) * (e % ORDER as u64))
    }
}

impl Default for Field {
    fn default() -> Self {
        Field::new()
    }
}

/// a · x in the field (one shift and a reduction): what the bit-sliced coder builds its
/// matrices from.
pub fn times_x(a: u16) -> u16 {
    let wide = u32::from(a) << 1;
    (if wide & 0x1_0000 != 0 {
        wide ^ GENERATOR
    } else {
        wide
    }) as u16
}

/// The constants PAR 2.0 gives input slices, in order: 2^n for the n from 0 up whose
/// greatest common divisor with 65,535 is 1 (not a multiple of 3, 5, 17 or 257), so each
/// has order 65,535. There are 32,768 of them: the most input slices a set can have.
pub fn input_logs(count: usize) -> Option<Vec<u32>> {
    let mut out = Vec::with_capacity(count);
    let mut n = 0u32;
    while out.len() < count {
        if n >= ORDER {
            return None;
        }
        if [3, 5, 17, 257].iter().all(|p| !n.is_multiple_of(*p)) {
            out.push(n);
        }
        n += 1;
    }
    Some(out)
}

/// Carry-less multiplication reduced by the generator, bit by bit: the definition the
/// tables are checked against.
#[cfg(test)]
pub(crate) fn mul_slow(a: u16, b: u16) -> u16 {
    let mut r: u32 = 0;
    for i in 0..16 {
        if b & (1 << i) != 0 {
            r ^= u32::from(a) << i;
        }
    }
    for i in (16..32).rev() {
        if r & (1 << i) != 0 {
            r ^= GENERATOR << (i - 16);
        }
    }
    r as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_generates_every_non_zero_element_once() {
        let f = Field::new();
        let mut seen = vec![false; 1 << 16];
        for e in 0..ORDER as u64 {
            let v = f.exp2(e);
            assert!(!seen[v as usize], "2^{e} = {v} repeats");
            seen[v as usize] = true;
        }
        assert!(!seen[0]);
        assert_eq!(f.exp2(u64::from(ORDER)), 1);
        // x^16 reduces to x^12 + x^3 + x + 1: the generator 0x1100B.
        assert_eq!(f.exp2(16), 0x100B);
        assert_eq!(f.exp2(15), 0x8000);
    }

    #[test]
    fn tables_agree_with_the_polynomial_definition() {
        let f = Field::new();
        let mut x: u32 = 12345;
        for _ in 0..20_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let a = (x >> 8) as u16;
            let b = (x >> 20) as u16 ^ (x as u16);
            assert_eq!(f.mul(a, b), mul_slow(a, b), "{a} * {b}");
            if b != 0 {
                assert_eq!(f.mul(f.div(a, b).unwrap(), b), a);
            }
        }
        assert_eq!(mul_slow(0x8000, 2), 0x100B);
        for a in [0u16, 1, 2, 0x8000, 0xffff, 0x1234] {
            assert_eq!(times_x(a), mul_slow(a, 2));
        }
    }

    #[test]
    fn input_constants_are_those_of_par2() {
        let logs = input_logs(10).unwrap();
        assert_eq!(logs, [1, 2, 4, 7, 8, 11, 13, 14, 16, 19]);
        assert_eq!(input_logs(32_768).unwrap().len(), 32_768);
        assert!(input_logs(32_769).is_none());
    }
}
