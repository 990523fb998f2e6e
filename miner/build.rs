//! Generates the AVX2 kernel's inline assembly (`$OUT_DIR/avx2_word7.s` and
//! `$OUT_DIR/avx2_full.s`, included by `src/kernel/avx2.rs`, with the stream count in
//! `$OUT_DIR/avx2_streams.rs`).
//!
//! Why assembly: AVX2 has sixteen `ymm` registers and blake3's state is sixteen words,
//! so some state must live in memory. LLVM's allocator spilled badly (232 stack
//! references per 8 nonces) and one group of 8 nonces alone leaves the CPU waiting on
//! the G functions' dependency chains. Here the schedule is fixed:
//!
//! * two groups of 8 nonces ("streams") are hashed side by side, their operations
//!   merged one by one, so the out-of-order core always has independent work;
//! * the 32 state words share the 16 registers by hand-rolled Belady: when a register
//!   is needed, the word used farthest in the future leaves (stored to its home in the
//!   frame only if its register holds a newer value), and a word out of its register
//!   is read straight from memory as an instruction's operand. Stores and folded loads
//!   use the load/store units, not the vector ALUs that bound this loop;
//! * dead work (everything that does not reach the requested output words) is removed
//!   first by a liveness pass, which is what trims the last round to the G functions
//!   that produce output word 7.
//!
//! The generated text uses the asm! operands `{f}` (the frame pointer) and the
//! constants `{state}`, `{msg}`, `{rot16}`, `{rot8}`, `{work}` and `{out}` (byte
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

/// How many operations apart the G functions of a half-round start. With one stream,
/// staggers 0 to 3 measured the same (1.21–1.26 × blake3's AVX2 rate, BENCHMARKS.md);
/// 1 needed fewer spill stores than 0.
const STAGGER: usize = 1;

/// The state words `(a, b, c, d)` of the G functions of a round: the column step, then
/// the diagonal step. G function `i` of the round takes message words `2i` and `2i + 1`
/// of the round's schedule.
const ROUND: [[(usize, usize, usize, usize); 4]; 2] = [
    [(0, 4, 8, 12), (1, 5, 9, 13), (2, 6, 10, 14), (3, 7, 11, 15)],
    [(0, 5, 10, 15), (1, 6, 11, 12), (2, 7, 8, 13), (3, 4, 9, 14)],
];

/// Independent groups of 8 nonces hashed side by side: state word `v` of stream `s`
/// is word `16 s + v` of the program.
const STREAMS: usize = 2;

/// How many operations stream `s` runs behind stream `s - 1` in the merged program.
/// Lags 0, 3, 9 and 18 measured the same within noise (BENCHMARKS.md); 3 needs the
/// fewest stores of those.
const LAG: usize = 3;

/// Every operation from the midstate (round 1's column step and three of its diagonal
/// G functions done) to the end of round 7, for one stream.
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

/// `op` of stream `s`: its state words moved to the stream's sixteen, and its nonce
/// word to the stream's own (message word 8 of stream `s > 0` is frame word `9 + s`).
fn in_stream(op: Op, s: usize) -> Op {
    let o = 16 * s;
    match op {
        Op::AddMsg { a, w } => Op::AddMsg {
            a: a + o,
            w: if w == 8 && s > 0 { 9 + s } else { w },
        },
        Op::Add { dst, src } => Op::Add {
            dst: dst + o,
            src: src + o,
        },
        Op::XorShuffle { dst, src, mask } => Op::XorShuffle {
            dst: dst + o,
            src: src + o,
            mask,
        },
        Op::XorShift { dst, src, bits } => Op::XorShift {
            dst: dst + o,
            src: src + o,
            bits,
        },
    }
}

/// The live program of every stream, merged one operation of each in turn (stream `s`
/// `s · LAG` operations late), and the output pairs in program words.
fn merged(outputs: &[(usize, usize)]) -> (Vec<Op>, Vec<(usize, usize)>) {
    let one = live_only(&program(), outputs);
    let mut slotted: Vec<(usize, usize, Op)> = Vec::new();
    for s in 0..STREAMS {
        slotted.extend(
            one.iter()
                .enumerate()
                .map(|(i, &op)| (i + s * LAG, s, in_stream(op, s))),
        );
    }
    slotted.sort_by_key(|&(slot, s, _)| (slot, s));
    let outs = (0..STREAMS)
        .flat_map(|s| outputs.iter().map(move |&(x, y)| (x + 16 * s, y + 16 * s)))
        .collect();
    (slotted.into_iter().map(|(_, _, op)| op).collect(), outs)
}

const WORDS: usize = 16 * STREAMS;
const REGS: usize = 16;

/// Register allocation over a fixed program: every state word has a home in the frame
/// (the shared midstate until it is first stored, then its own slot in `work`); when a
/// register is needed the word used farthest in the future leaves (Belady), stored only
/// if its register holds a newer value than its home. A word not in a register is read
/// as an instruction's memory operand wherever the instruction allows.
struct Emitter<'a> {
    ops: &'a [Op],
    outputs: &'a [(usize, usize)],
    text: String,
    /// `next[i][w]`: the first op after op `i` that uses word `w` (output `k` counts as
    /// op `ops.len() + k`; `usize::MAX` if dead).
    next: Vec<[usize; WORDS]>,
    reg_of: [Option<usize>; WORDS],
    word_in: [Option<usize>; REGS],
    dirty: [bool; WORDS],
    stored: [bool; WORDS],
    stores: usize,
    loads: usize,
}

fn reg(r: usize) -> String {
    format!("ymm{r}")
}

impl<'a> Emitter<'a> {
    fn new(ops: &'a [Op], outputs: &'a [(usize, usize)]) -> Self {
        let mut next = vec![[usize::MAX; WORDS]; ops.len()];
        let mut after = [usize::MAX; WORDS];
        for (k, &(x, y)) in outputs.iter().enumerate().rev() {
            after[x] = ops.len() + k;
            after[y] = ops.len() + k;
        }
        for i in (0..ops.len()).rev() {
            next[i] = after;
            after[ops[i].dst()] = i;
            if let Some(s) = ops[i].src() {
                after[s] = i;
            }
        }
        Emitter {
            ops,
            outputs,
            text: String::new(),
            next,
            reg_of: [None; WORDS],
            word_in: [None; REGS],
            dirty: [false; WORDS],
            stored: [false; WORDS],
            stores: 0,
            loads: 0,
        }
    }

    fn line(&mut self, s: &str) {
        self.text.push_str(s);
        self.text.push('\n');
    }

    /// The first use of `w` after op `i` (output `k` counts as op `ops.len() + k`), or
    /// `usize::MAX` if `w` is dead.
    fn next_use(&self, i: usize, w: usize) -> usize {
        if let Some(next) = self.next.get(i) {
            return next[w];
        }
        let n = self.ops.len();
        (i + 1 - n..self.outputs.len())
            .find(|&k| self.outputs[k].0 == w || self.outputs[k].1 == w)
            .map_or(usize::MAX, |k| n + k)
    }

    /// `w`'s home in the frame.
    fn home(&self, w: usize) -> String {
        if self.stored[w] {
            format!("ymmword ptr [{{f}} + {{work}} + {}]", 32 * w)
        } else {
            format!("ymmword ptr [{{f}} + {{state}} + {}]", 32 * (w % 16))
        }
    }

    /// Where `w`'s value is read from: its register, or its home.
    fn operand(&self, w: usize) -> String {
        match self.reg_of[w] {
            Some(r) => reg(r),
            None => self.home(w),
        }
    }

    /// A register for a new value while op `i` runs, keeping the words in `keep`: a
    /// free one, else one whose word is dead after op `i`, else the one whose word is
    /// used farthest in the future (stored first if its home is stale).
    fn alloc(&mut self, i: usize, keep: &[usize]) -> usize {
        if let Some(r) = (0..REGS).find(|&r| self.word_in[r].is_none()) {
            return r;
        }
        let r = (0..REGS)
            .filter(|&r| !keep.contains(&self.word_in[r].expect("all registers hold words")))
            .max_by_key(|&r| {
                let w = self.word_in[r].expect("all registers hold words");
                (self.next_use(i, w), !self.dirty[w])
            })
            .expect("a register to give up");
        let w = self.word_in[r].take().expect("all registers hold words");
        self.reg_of[w] = None;
        if self.dirty[w] && self.next_use(i, w) != usize::MAX {
            self.stored[w] = true;
            let home = self.home(w);
            self.line(&format!("vmovdqa {home}, {}", reg(r)));
            self.stores += 1;
        }
        self.dirty[w] = false;
        r
    }

    fn bind(&mut self, w: usize, r: usize) {
        self.reg_of[w] = Some(r);
        self.word_in[r] = Some(w);
        self.dirty[w] = true;
    }

    /// Brings `w` into a register (op `i` runs next).
    fn load(&mut self, i: usize, w: usize, keep: &[usize]) -> usize {
        if let Some(r) = self.reg_of[w] {
            return r;
        }
        let r = self.alloc(i, keep);
        let home = self.home(w);
        self.line(&format!("vmovdqa {}, {home}", reg(r)));
        self.loads += 1;
        self.reg_of[w] = Some(r);
        self.word_in[r] = Some(w);
        self.dirty[w] = false;
        r
    }

    /// `v[dst] = v[dst] (op) v[src]` for a commutative `op` (op `i`); afterwards `dst`
    /// is in a register, newer than its home.
    fn commutative(&mut self, i: usize, insn: &str, dst: usize, src: usize) -> usize {
        let line;
        let out;
        if let Some(rd) = self.reg_of[dst] {
            line = format!("{insn} {}, {}, {}", reg(rd), reg(rd), self.operand(src));
            out = rd;
        } else {
            let rs = match self.reg_of[src] {
                Some(rs) => rs,
                None => self.load(i, src, &[]),
            };
            // The result may take `src`'s register if `src` is dead after this op.
            let src_dead = self.next_use(i, src) == usize::MAX;
            out = if src_dead {
                self.word_in[rs] = None;
                self.reg_of[src] = None;
                rs
            } else {
                self.alloc(i, &[src])
            };
            line = format!("{insn} {}, {}, {}", reg(out), reg(rs), self.home(dst));
        }
        self.line(&line);
        if self.reg_of[dst].is_none() {
            self.bind(dst, out);
        }
        self.dirty[dst] = true;
        out
    }

    fn emit(&mut self) {
        for (i, &op) in self.ops.iter().enumerate() {
            match op {
                Op::AddMsg { a, w } => {
                    let r = self.load(i, a, &[]);
                    self.line(&format!(
                        "vpaddd {}, {}, ymmword ptr [{{f}} + {{msg}} + {}]",
                        reg(r),
                        reg(r),
                        32 * w
                    ));
                    self.dirty[a] = true;
                }
                Op::Add { dst, src } => {
                    self.commutative(i, "vpaddd", dst, src);
                }
                Op::XorShuffle { dst, src, mask } => {
                    let r = self.commutative(i, "vpxor", dst, src);
                    self.line(&format!(
                        "vpshufb {}, {}, ymmword ptr [{{f}} + {{{mask}}}]",
                        reg(r),
                        reg(r)
                    ));
                }
                Op::XorShift { dst, src, bits } => {
                    let r = self.commutative(i, "vpxor", dst, src);
                    let t = self.alloc(i, &[dst]);
                    self.line(&format!("vpsrld {}, {}, {bits}", reg(t), reg(r)));
                    self.line(&format!("vpslld {}, {}, {}", reg(r), reg(r), 32 - bits));
                    self.line(&format!("vpor {}, {}, {}", reg(r), reg(r), reg(t)));
                }
            }
        }
        let end = self.ops.len();
        for (k, &(x, y)) in self.outputs.iter().enumerate() {
            let r = self.commutative(end + k, "vpxor", x, y);
            self.line(&format!(
                "vmovdqa ymmword ptr [{{f}} + {{out}} + {}], {}",
                32 * k,
                reg(r)
            ));
        }
    }
}

fn generate(outputs: &[(usize, usize)]) -> String {
    let (ops, outs) = merged(outputs);
    let mut e = Emitter::new(&ops, &outs);
    e.emit();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "/* generated by miner/build.rs: {} streams, {} operations, {} spill stores, {} loads */",
        STREAMS,
        ops.len(),
        e.stores,
        e.loads
    );
    text.push_str(&e.text);
    text
}

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=src/kernel/schedule.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let word7 = [(7, 15)];
    let full: Vec<(usize, usize)> = (0..8).map(|w| (w, w + 8)).collect();
    for (name, outputs) in [("avx2_word7.s", &word7[..]), ("avx2_full.s", &full[..])] {
        let text = generate(outputs);
        std::fs::write(out.join(name), text).expect("write the generated kernel");
    }
    std::fs::write(
        out.join("avx2_streams.rs"),
        format!("/// Groups of 8 nonces one call of the generated assembly hashes.\nconst STREAMS: usize = {STREAMS};\n"),
    )
    .expect("write the stream count");
}
