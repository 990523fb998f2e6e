//! Generates the assembly of the AVX2 and SSE4.1 kernels (`$OUT_DIR/{avx2,sse41}_word7.s`
//! and `..._full.s`, included by `src/kernel/asm.rs`, with the stream count in
//! `$OUT_DIR/streams.rs`).
//!
//! Why assembly: both instruction sets have sixteen vector registers and blake3's state
//! is sixteen words, so some state must live in memory. LLVM's allocator spilled badly
//! (232 stack references per 8 nonces on AVX2) and one group of nonces alone leaves the
//! CPU waiting on the G functions' dependency chains. Here the schedule is fixed:
//!
//! * two groups of nonces ("streams", one nonce per lane) are hashed side by side,
//!   their operations merged one by one, so the out-of-order core always has
//!   independent work;
//! * the 32 state words share the 16 registers by hand-rolled Belady: when a register
//!   is needed, the word used farthest in the future leaves (stored to its home in the
//!   frame only if its register holds a newer value), and a word out of its register
//!   is read straight from memory as an instruction's operand. Stores and folded loads
//!   use the load/store units, not the vector ALUs that bound this loop;
//! * dead work (everything that does not reach the requested output words) is removed
//!   first by a liveness pass, which is what trims the last round to the G functions
//!   that produce output word 7.
//!
//! The two instruction sets differ only in spelling: AVX2 has three-operand forms, SSE's
//! destination is also its first source (a register copy is emitted where they differ).
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

/// The instruction set a kernel is generated for: AVX2 (`ymm`, three-operand VEX
/// forms) or SSE4.1 (`xmm`, two-operand forms whose destination is also a source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isa {
    Avx2,
    Sse41,
}

impl Isa {
    /// Bytes per vector, the stride of the frame's arrays.
    fn width(self) -> usize {
        match self {
            Isa::Avx2 => 32,
            Isa::Sse41 => 16,
        }
    }

    fn reg(self, r: usize) -> String {
        match self {
            Isa::Avx2 => format!("ymm{r}"),
            Isa::Sse41 => format!("xmm{r}"),
        }
    }

    /// Vector `index` of the frame field `field`.
    fn mem(self, field: &str, index: usize) -> String {
        let size = match self {
            Isa::Avx2 => "ymmword",
            Isa::Sse41 => "xmmword",
        };
        format!(
            "{size} ptr [{{f}} + {{{field}}} + {}]",
            self.width() * index
        )
    }

    /// The mnemonic of `insn` (SSE's name, such as `paddd`).
    fn insn(self, insn: &str) -> String {
        match self {
            Isa::Avx2 => format!("v{insn}"),
            Isa::Sse41 => insn.to_owned(),
        }
    }
}

/// Register allocation over a fixed program: every state word has a home in the frame
/// (the shared midstate until it is first stored, then its own slot in `work`); when a
/// register is needed the word used farthest in the future leaves (Belady), stored only
/// if its register holds a newer value than its home. A word not in a register is read
/// as an instruction's memory operand wherever the instruction allows.
struct Emitter<'a> {
    isa: Isa,
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

impl<'a> Emitter<'a> {
    fn new(isa: Isa, ops: &'a [Op], outputs: &'a [(usize, usize)]) -> Self {
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
            isa,
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

    fn reg(&self, r: usize) -> String {
        self.isa.reg(r)
    }

    /// `out = a (insn) b` for register `a` and `b` a register, memory or immediate
    /// operand; in SSE's two-operand form `a` is copied to `out` first if they differ.
    fn op3(&mut self, insn: &str, out: usize, a: usize, b: &str) {
        let (out, a, name) = (self.reg(out), self.reg(a), self.isa.insn(insn));
        match self.isa {
            Isa::Avx2 => self.line(&format!("{name} {out}, {a}, {b}")),
            Isa::Sse41 => {
                if out != a {
                    self.line(&format!("movdqa {out}, {a}"));
                }
                self.line(&format!("{name} {out}, {b}"));
            }
        }
    }

    /// A whole-vector move (a load or a store).
    fn mov(&mut self, to: &str, from: &str) {
        let name = self.isa.insn("movdqa");
        self.line(&format!("{name} {to}, {from}"));
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
            self.isa.mem("work", w)
        } else {
            self.isa.mem("state", w % 16)
        }
    }

    /// Where `w`'s value is read from: its register, or its home.
    fn operand(&self, w: usize) -> String {
        match self.reg_of[w] {
            Some(r) => self.reg(r),
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
            let (home, from) = (self.home(w), self.reg(r));
            self.mov(&home, &from);
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
        let (to, home) = (self.reg(r), self.home(w));
        self.mov(&to, &home);
        self.loads += 1;
        self.reg_of[w] = Some(r);
        self.word_in[r] = Some(w);
        self.dirty[w] = false;
        r
    }

    /// `v[dst] = v[dst] (op) v[src]` for a commutative `op` (op `i`); afterwards `dst`
    /// is in a register, newer than its home.
    fn commutative(&mut self, i: usize, insn: &str, dst: usize, src: usize) -> usize {
        let out;
        if let Some(rd) = self.reg_of[dst] {
            let b = self.operand(src);
            self.op3(insn, rd, rd, &b);
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
            let b = self.home(dst);
            self.op3(insn, out, rs, &b);
        }
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
                    let m = self.isa.mem("msg", w);
                    self.op3("paddd", r, r, &m);
                    self.dirty[a] = true;
                }
                Op::Add { dst, src } => {
                    self.commutative(i, "paddd", dst, src);
                }
                Op::XorShuffle { dst, src, mask } => {
                    let r = self.commutative(i, "pxor", dst, src);
                    let m = self.isa.mem(mask, 0);
                    self.op3("pshufb", r, r, &m);
                }
                Op::XorShift { dst, src, bits } => {
                    let r = self.commutative(i, "pxor", dst, src);
                    let t = self.alloc(i, &[dst]);
                    self.op3("psrld", t, r, &bits.to_string());
                    self.op3("pslld", r, r, &(32 - bits).to_string());
                    let t = self.reg(t);
                    self.op3("por", r, r, &t);
                }
            }
        }
        let end = self.ops.len();
        for (k, &(x, y)) in self.outputs.iter().enumerate() {
            let r = self.commutative(end + k, "pxor", x, y);
            let (to, from) = (self.isa.mem("out", k), self.reg(r));
            self.mov(&to, &from);
        }
    }
}

fn generate(isa: Isa, outputs: &[(usize, usize)]) -> String {
    let (ops, outs) = merged(outputs);
    let mut e = Emitter::new(isa, &ops, &outs);
    e.emit();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "/* generated by miner/build.rs: {isa:?}, {} streams, {} operations, {} spill stores, {} loads */",
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
    for (isa, prefix) in [(Isa::Avx2, "avx2"), (Isa::Sse41, "sse41")] {
        for (kind, outputs) in [("word7", &word7[..]), ("full", &full[..])] {
            let text = generate(isa, outputs);
            std::fs::write(out.join(format!("{prefix}_{kind}.s")), text)
                .expect("write the generated kernel");
        }
    }
    std::fs::write(
        out.join("streams.rs"),
        format!("/// Groups of nonces (one per lane) a call of the generated assembly hashes.\nconst STREAMS: usize = {STREAMS};\n"),
    )
    .expect("write the stream count");
}
