//! Generates the AVX2 kernel's inline assembly (`$OUT_DIR/avx2_word7.s` and
//! `$OUT_DIR/avx2_full.s`, included by `src/kernel/avx2.rs`).
//!
//! Why assembly: AVX2 has sixteen `ymm` registers and blake3's state is sixteen words,
//! so one state word must live in memory whenever a 12- or 7-bit rotation (two shifts
//! and an `or`) needs a temporary. LLVM's allocator spilled far more than that (232
//! stack references per 8 nonces). Here the schedule is fixed and the spills are
//! chosen by hand-rolled Belady: when a temporary is needed, the state word whose next
//! use is farthest away goes to one spill slot, and its next reader takes it straight
//! from memory as an instruction's memory operand, so a spill costs one store and no
//! extra load. Dead work (everything that does not reach the requested output words)
//! is removed first by a liveness pass, which is what trims the last round to the
//! G functions that produce output word 7.
//!
//! The generated text uses the asm! operands `{f}` (the frame pointer) and the
//! constants `{state}`, `{msg}`, `{rot16}`, `{rot8}`, `{spill}` and `{out}` (byte
//! offsets of the frame's fields), so the frame's layout is defined once, in Rust.

use std::fmt::Write as _;
use std::path::PathBuf;

/// blake3's message schedule, shared with the kernel's Rust code.
const MSG_SCHEDULE: [[usize; 16]; 7] = include!("src/kernel/schedule.rs");
/// Message words 0..8 are the pre-hash and 8, 9 the nonce; 10..16 are zero and never
/// added.
const NONZERO_WORDS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// `v[a] += m[w]`.
    AddMsg { a: usize, w: usize },
    /// `v[dst] += v[src]`.
    Add { dst: usize, src: usize },
    /// `v[dst] = rotr(v[dst] ^ v[src], 16 or 8)`, a byte shuffle by the frame's mask.
    XorShuffle {
        dst: usize,
        src: usize,
        mask: &'static str,
    },
    /// `v[dst] = rotr(v[dst] ^ v[src], bits)`, two shifts and an `or`.
    XorShift { dst: usize, src: usize, bits: u32 },
}

impl Op {
    fn dst(self) -> usize {
        match self {
            Op::AddMsg { a, .. } => a,
            Op::Add { dst, .. } | Op::XorShuffle { dst, .. } | Op::XorShift { dst, .. } => dst,
        }
    }

    fn src(self) -> Option<usize> {
        match self {
            Op::AddMsg { .. } => None,
            Op::Add { src, .. } | Op::XorShuffle { src, .. } | Op::XorShift { src, .. } => {
                Some(src)
            }
        }
    }

    fn uses(self, v: usize) -> bool {
        self.dst() == v || self.src() == Some(v)
    }
}

/// G functions `(a, b, c, d, x, y)` run interleaved: G function `j`'s `i`-th operation
/// goes at slot `i + j · STAGGER`, so every stretch of the stream has independent work
/// of several kinds (shifts and shuffles share two pipes on the CPUs measured, adds and
/// xors have four).
fn g_group(ops: &mut Vec<Op>, gs: &[(usize, usize, usize, usize, usize, usize)]) {
    let mut slotted = Vec::new();
    for (j, g) in gs.iter().enumerate() {
        let mut one = Vec::new();
        for (w, mask, bits) in [(g.4, "rot16", 12), (g.5, "rot8", 7)] {
            if w < NONZERO_WORDS {
                one.push(Op::AddMsg { a: g.0, w });
            }
            one.push(Op::Add { dst: g.0, src: g.1 });
            one.push(Op::XorShuffle {
                dst: g.3,
                src: g.0,
                mask,
            });
            one.push(Op::Add { dst: g.2, src: g.3 });
            one.push(Op::XorShift {
                dst: g.1,
                src: g.2,
                bits,
            });
        }
        slotted.extend(
            one.into_iter()
                .enumerate()
                .map(|(i, op)| (i + j * STAGGER, j, op)),
        );
    }
    slotted.sort_by_key(|&(slot, j, _)| (slot, j));
    ops.extend(slotted.into_iter().map(|(_, _, op)| op));
}

/// How many operations apart the G functions of a half-round start. Staggers 0 to 3
/// measured the same (1.21–1.26 × blake3's AVX2 rate, BENCHMARKS.md); 1 needs fewer
/// spill stores than 0.
const STAGGER: usize = 1;

/// The state words `(a, b, c, d)` of the G functions of a round: the column step, then
/// the diagonal step. G function `i` of the round takes message words `2i` and `2i + 1`
/// of the round's schedule.
const ROUND: [[(usize, usize, usize, usize); 4]; 2] = [
    [(0, 4, 8, 12), (1, 5, 9, 13), (2, 6, 10, 14), (3, 7, 11, 15)],
    [(0, 5, 10, 15), (1, 6, 11, 12), (2, 7, 8, 13), (3, 4, 9, 14)],
];

/// Every operation from the midstate (round 1's column step and three of its diagonal
/// G functions done) to the end of round 7.
fn program() -> Vec<Op> {
    let mut ops = Vec::new();
    let s = &MSG_SCHEDULE[0];
    g_group(&mut ops, &[(0, 5, 10, 15, s[8], s[9])]);
    for s in &MSG_SCHEDULE[1..] {
        for (step, gs) in ROUND.iter().enumerate() {
            let group: Vec<_> = gs
                .iter()
                .enumerate()
                .map(|(i, &(a, b, c, d))| {
                    let g = 4 * step + i;
                    (a, b, c, d, s[2 * g], s[2 * g + 1])
                })
                .collect();
            g_group(&mut ops, &group);
        }
    }
    ops
}

/// Drops every operation whose result does not reach an output word.
fn live_only(ops: &[Op], outputs: &[(usize, usize)]) -> Vec<Op> {
    let mut live = [false; 16];
    for &(x, y) in outputs {
        live[x] = true;
        live[y] = true;
    }
    let mut kept: Vec<Op> = ops
        .iter()
        .rev()
        .filter(|op| {
            if !live[op.dst()] {
                return false;
            }
            if let Some(s) = op.src() {
                live[s] = true;
            }
            true
        })
        .copied()
        .collect();
    kept.reverse();
    kept
}

struct Emitter<'a> {
    ops: &'a [Op],
    outputs: &'a [(usize, usize)],
    text: String,
    /// The state word whose value is in the spill slot (its register is free).
    spilled: Option<usize>,
    stores: usize,
}

fn reg(v: usize) -> String {
    format!("ymm{v}")
}

impl Emitter<'_> {
    fn line(&mut self, s: &str) {
        self.text.push_str(s);
        self.text.push('\n');
    }

    /// Where `v`'s value is read from: its register, or the spill slot.
    fn operand(&self, v: usize) -> String {
        if self.spilled == Some(v) {
            "ymmword ptr [{f} + {spill}]".to_owned()
        } else {
            reg(v)
        }
    }

    /// `v[dst] = v[dst] (op) v[src]` for a commutative `op`, taking a spilled operand
    /// from memory; afterwards `dst` is in its register.
    fn commutative(&mut self, insn: &str, dst: usize, src: usize) {
        let line = if self.spilled == Some(dst) {
            self.spilled = None;
            format!(
                "{insn} {}, {}, ymmword ptr [{{f}} + {{spill}}]",
                reg(dst),
                reg(src)
            )
        } else {
            format!("{insn} {}, {}, {}", reg(dst), reg(dst), self.operand(src))
        };
        self.line(&line);
    }

    /// The position of the next use of `v` after op `i` (the outputs count as uses at
    /// the end), or `None` if `v` is dead.
    fn next_use(&self, i: usize, v: usize) -> Option<usize> {
        self.ops[i + 1..]
            .iter()
            .position(|op| op.uses(v))
            .map(|p| i + 1 + p)
            .or_else(|| {
                self.outputs
                    .iter()
                    .any(|&(x, y)| x == v || y == v)
                    .then_some(self.ops.len())
            })
    }

    /// A register free for a temporary while op `i` runs (`busy` must stay): the spilled
    /// word's, else the word used farthest in the future, stored to the spill slot.
    fn temporary(&mut self, i: usize, busy: usize) -> usize {
        if let Some(s) = self.spilled {
            return s;
        }
        let victim = (0..16)
            .filter(|&v| v != busy)
            .max_by_key(|&v| self.next_use(i, v).unwrap_or(usize::MAX))
            .expect("sixteen registers");
        if self.next_use(i, victim).is_some() {
            self.line(&format!(
                "vmovdqa ymmword ptr [{{f}} + {{spill}}], {}",
                reg(victim)
            ));
            self.stores += 1;
            self.spilled = Some(victim);
        }
        victim
    }

    fn emit(&mut self) {
        for v in 0..16 {
            self.line(&format!(
                "vmovdqa {}, ymmword ptr [{{f}} + {{state}} + {}]",
                reg(v),
                32 * v
            ));
        }
        for (i, &op) in self.ops.iter().enumerate() {
            match op {
                Op::AddMsg { a, w } => {
                    if self.spilled == Some(a) {
                        self.line(&format!(
                            "vmovdqa {}, ymmword ptr [{{f}} + {{spill}}]",
                            reg(a)
                        ));
                        self.spilled = None;
                    }
                    self.line(&format!(
                        "vpaddd {}, {}, ymmword ptr [{{f}} + {{msg}} + {}]",
                        reg(a),
                        reg(a),
                        32 * w
                    ));
                }
                Op::Add { dst, src } => self.commutative("vpaddd", dst, src),
                Op::XorShuffle { dst, src, mask } => {
                    self.commutative("vpxor", dst, src);
                    self.line(&format!(
                        "vpshufb {}, {}, ymmword ptr [{{f}} + {{{mask}}}]",
                        reg(dst),
                        reg(dst)
                    ));
                }
                Op::XorShift { dst, src, bits } => {
                    self.commutative("vpxor", dst, src);
                    let t = self.temporary(i, dst);
                    self.line(&format!("vpsrld {}, {}, {bits}", reg(t), reg(dst)));
                    self.line(&format!("vpslld {}, {}, {}", reg(dst), reg(dst), 32 - bits));
                    self.line(&format!("vpor {}, {}, {}", reg(dst), reg(dst), reg(t)));
                }
            }
        }
        for (k, &(x, y)) in self.outputs.iter().enumerate() {
            self.commutative("vpxor", x, y);
            self.line(&format!(
                "vmovdqa ymmword ptr [{{f}} + {{out}} + {}], {}",
                32 * k,
                reg(x)
            ));
        }
    }
}

fn generate(outputs: &[(usize, usize)]) -> (String, usize, usize) {
    let ops = live_only(&program(), outputs);
    let mut e = Emitter {
        ops: &ops,
        outputs,
        text: String::new(),
        spilled: None,
        stores: 0,
    };
    e.emit();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "/* generated by miner/build.rs: {} operations, {} spill stores */",
        ops.len(),
        e.stores
    );
    text.push_str(&e.text);
    (text, ops.len(), e.stores)
}

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=src/kernel/schedule.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let word7 = [(7, 15)];
    let full: Vec<(usize, usize)> = (0..8).map(|w| (w, w + 8)).collect();
    for (name, outputs) in [("avx2_word7.s", &word7[..]), ("avx2_full.s", &full[..])] {
        let (text, _, _) = generate(outputs);
        std::fs::write(out.join(name), text).expect("write the generated kernel");
    }
}
