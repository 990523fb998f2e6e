'use strict';
// Cairn's built-in block explorer: plain ES2020, no dependencies, no build step.
// The node serves it under a strict CSP (no inline code or styles), so every element
// is built with the DOM API, and all text that comes from the RPC goes through
// textContent.
(() => {
  const COIN = 100000000n; // base units per coin (core/src/amount.rs)
  const CHART_BLOCKS = 60;
  const LATEST_BLOCKS = 20;
  const HASHRATE_WINDOW = 10; // blocks averaged into each hashrate point
  const HISTORY_SCANS = [1000, 10000, 100000]; // state_getHistory `blocks`, step by step
  const HISTORY_LIMIT = 1000; // entries state_getHistory returns at most
  const STATUS_EVERY_MS = 10000;
  const MAX_PEER_ROWS = 12;
  const UNKNOWN_BLOCK = -32010;
  const SUBSCRIBE_ID = 'newHeads';

  const $ = (sel) => document.querySelector(sel);

  // ------------------------------------------------------------------ DOM helpers

  function append(el, children) {
    for (const c of [children].flat(Infinity)) {
      if (c == null || c === false) continue;
      el.append(c instanceof Node ? c : String(c)); // strings become text nodes
    }
    return el;
  }

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    return append(el, children);
  }

  function fill(el, ...children) {
    el.replaceChildren();
    return append(el, children);
  }

  const shortHash = (s) => (s.length > 20 ? `${s.slice(0, 8)}…${s.slice(-8)}` : s);
  const shortAddr = (s) => (s.length > 24 ? `${s.slice(0, 12)}…${s.slice(-6)}` : s);

  const hashLink = (href, hash, cls, full) =>
    h('a', { href, class: `mono ${cls || ''}`.trim(), title: hash }, full ? hash : shortHash(hash));

  const accountLink = (address, full) =>
    h('a', { href: `#/account/${address}`, class: 'mono account-link', title: address },
      full ? address : shortAddr(address));

  function table(heads, rows) {
    const th = heads.map((x) => {
      const [label, cls] = [].concat(x);
      return h('th', { class: cls }, label);
    });
    return h('div', { class: 'table-wrap' },
      h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, th)),
        rows instanceof Node ? rows : h('tbody', {}, rows))); // a tbody the caller keeps, or rows
  }

  // Label / value pairs; `field` becomes the value's data-field (the test hooks).
  const fields = (rows) => h('dl', { class: 'fields' }, rows.filter(Boolean).map(
    ([label, value, field]) => [h('dt', {}, label), h('dd', { 'data-field': field }, value)]));

  // ------------------------------------------------------------------ formatting

  const int = (n) => Number(n).toLocaleString('en-US');

  // Base units (a decimal string, possibly above 2^53) as coins, exactly.
  function coins(units) {
    let v;
    try { v = BigInt(units); } catch { return String(units); }
    const sign = v < 0n ? '-' : '';
    if (v < 0n) v = -v;
    const frac = (v % COIN).toString().padStart(8, '0').replace(/0+$/, '');
    return `${sign}${(v / COIN).toLocaleString('en-US')}${frac ? `.${frac}` : ''}`;
  }

  const amountFull = (units) => [
    h('span', { class: 'amount' }, `${coins(units)} coins`),
    h('span', { class: 'muted' }, ` (${units} base units)`),
  ];

  const SI_PREFIXES = ['', 'k', 'M', 'G', 'T', 'P', 'E', 'Z', 'Y'];

  // Decimals that show `sig` significant digits of n (at most 6).
  function sigDecimals(n, sig = 3) {
    const a = Math.abs(n);
    if (!a || !Number.isFinite(a)) return 0;
    return Math.min(6, Math.max(0, sig - 1 - Math.floor(Math.log10(a))));
  }

  // A display unit for a value of the size of n: [base units per unit, suffix].
  const siUnit = (unit) => (n) => {
    const a = Math.abs(n);
    let i = 0;
    while (a >= 1000 ** (i + 1) * 0.9995 && i < SI_PREFIXES.length - 1) i += 1;
    return [1000 ** i, `${SI_PREFIXES[i]}${unit}`];
  };
  const timeUnit = (sec) => {
    const a = Math.abs(sec);
    if (a < 0.9995) return [1e-3, 'ms'];
    if (a < 120) return [1, 's'];
    if (a < 7200) return [60, 'min'];
    return [3600, 'h'];
  };
  const withUnit = (text, suffix) => (suffix ? `${text} ${suffix}` : text);

  // n in the unit unitOf picks for it, to 3 significant digits ("1.10 MH/s", "940 ms").
  function auto(unitOf, n) {
    if (n == null || !Number.isFinite(n)) return '—';
    const [div, suffix] = unitOf(n);
    const v = Number((n / div).toPrecision(12)); // 3 ms, not 3.0000000001 ms
    return withUnit(Number.isInteger(v) ? String(v) : v.toFixed(sigDecimals(v)), suffix);
  }
  const si = (n, unit = '') => auto(siUnit(unit), n);
  const duration = (sec) => auto(timeUnit, sec);

  // Bytes in binary units (a mempool limit of 64 MiB reads as such).
  function bytes(n) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let v = Number(n);
    if (!Number.isFinite(v)) return '—';
    let i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
    return `${i === 0 ? String(v) : v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
  }

  function ago(ms) {
    const s = Math.round((Date.now() - ms) / 1000);
    if (s < 2) return 'just now'; // also a clock a little behind the miner's
    if (s < 120) return `${s} s ago`;
    if (s < 7200) return `${Math.round(s / 60)} min ago`;
    if (s < 172800) return `${Math.round(s / 3600)} h ago`;
    return `${Math.round(s / 86400)} d ago`;
  }

  function isoTime(ms) {
    const d = new Date(ms);
    return Number.isNaN(d.getTime()) ? '?' : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  }
  const timeEl = (ms) => h('span', { 'data-ts': ms, title: isoTime(ms) }, ago(ms));

  // Expected hashes per block for a compact target ("0x1d00ffff"), as chain_getInfo
  // computes it: 2^256 / (target + 1).
  const difficultyCache = new Map();
  function difficulty(compact) {
    if (difficultyCache.has(compact)) return difficultyCache.get(compact);
    const c = Number.parseInt(compact, 16) >>> 0;
    const exponent = c >>> 24;
    const mantissa = BigInt(c & 0xffffff);
    let d = NaN;
    if (exponent >= 3 && exponent <= 32 && mantissa >= 0x10000n) {
      const target = mantissa << BigInt(8 * (exponent - 3));
      const max = (1n << 256n) - 1n;
      d = Number((max - target) / (target + 1n) + 1n);
    }
    difficultyCache.set(compact, d);
    return d;
  }

  // ------------------------------------------------------------------ errors

  // The last error of each source (view, search, status, socket…); #error shows the
  // most recent one, and is empty when every source is fine.
  const errors = new Map();
  function setError(source, err) {
    errors.delete(source);
    errors.set(source, err instanceof Error ? err.message : String(err));
    showError();
  }
  function clearError(source) {
    if (errors.delete(source)) showError();
  }
  function showError() {
    const last = [...errors.values()].pop() || '';
    const el = $('#error');
    el.textContent = last;
    el.hidden = !last;
  }

  // ------------------------------------------------------------------ JSON-RPC

  class RpcError extends Error {
    constructor(method, error) {
      const data = error && error.data;
      const detail = typeof data === 'string' ? data : data && data.message;
      super(`${method}: ${(error && error.message) || 'error'}${detail ? ` (${detail})` : ''}`);
      this.code = error && error.code;
    }
  }

  let nextRpcId = 0;
  const envelope = (method, params) => ({ jsonrpc: '2.0', id: ++nextRpcId, method, params });

  async function post(body) {
    let res;
    try {
      res = await fetch('/', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    } catch (e) {
      throw new Error(`the node is unreachable (${e.message})`);
    }
    try {
      return await res.json(); // errors (busy, too large) come with a JSON body too
    } catch {
      throw new Error(`the node answered HTTP ${res.status} without JSON`);
    }
  }

  function unwrap(method, reply) {
    if (reply && reply.error) throw new RpcError(method, reply.error);
    if (!reply || !('result' in reply)) throw new Error(`${method}: malformed reply`);
    return counts(reply.result);
  }

  // Every u64 of the RPC is a decimal string (exact beyond 2^53). Heights, times,
  // sizes and counts are far below 2^53 and the page does arithmetic on them, so
  // they become numbers here; amounts and nonces stay strings (BigInt where summed).
  const COUNT_FIELDS = new Set([
    'height', 'timestamp', 'medianTime', 'confirmations', 'size', 'bytes', 'maxBytes',
    'pendingTxs', 'bestPeerHeight', 'peers', 'inbound', 'outbound', 'accepted', 'lastSeen', 'maturesAt',
  ]);
  function counts(v) {
    if (Array.isArray(v)) return v.map(counts);
    if (!v || typeof v !== 'object') return v;
    const out = {};
    for (const [k, x] of Object.entries(v)) {
      out[k] = COUNT_FIELDS.has(k) && typeof x === 'string' && /^[0-9]+$/.test(x) ? Number(x) : counts(x);
    }
    return out;
  }

  async function rpc(method, params = []) {
    return unwrap(method, await post(envelope(method, params)));
  }

  // Several calls in one HTTP request; each settles on its own as {ok, value, error}.
  rpc.batch = async (calls) => {
    const reqs = calls.map(([method, params]) => envelope(method, params));
    const replies = await post(reqs);
    if (!Array.isArray(replies)) {
      const error = new RpcError('batch', replies && replies.error);
      return reqs.map(() => ({ ok: false, error }));
    }
    const byId = new Map(replies.map((r) => [r.id, r]));
    return reqs.map((r) => {
      try { return { ok: true, value: unwrap(r.method, byId.get(r.id)) }; }
      catch (error) { return { ok: false, error }; }
    });
  };

  // ------------------------------------------------------------------ scheduling

  function throttle(fn, ms) {
    let last = 0;
    let timer = null;
    return () => {
      if (timer) return;
      timer = setTimeout(() => { timer = null; last = Date.now(); fn(); },
        Math.max(0, last + ms - Date.now()));
    };
  }

  // ------------------------------------------------------------------ chain model

  const state = {
    chain: [], // the last CHART_BLOCKS + 1 main-chain headers, oldest first
    tip: null, // the newest header
    details: new Map(), // block id → {txs, size, miner}, or null while loading
    socketLive: false,
  };

  // The last LATEST_BLOCKS headers, newest first.
  const latest = () => state.chain.slice(-LATEST_BLOCKS).reverse();

  let snapshotRun = null;
  function loadSnapshot() {
    snapshotRun = snapshotRun || takeSnapshot().finally(() => { snapshotRun = null; });
    return snapshotRun;
  }

  async function takeSnapshot() {
    const info = await rpc('chain_getInfo');
    const from = Math.max(0, info.height - CHART_BLOCKS);
    const headers = await rpc('chain_getHeaders', [from, info.height - from + 1]);
    if (!headers.length) return;
    // Headers that came over the socket meanwhile extend the snapshot.
    for (const hd of state.chain) {
      const last = headers[headers.length - 1];
      if (hd.height === last.height + 1 && hd.prev === last.id) headers.push(hd);
    }
    state.chain = headers.slice(-(CHART_BLOCKS + 1));
    setTip(state.chain[state.chain.length - 1]);
    statusSoon(); // the node answers again: refresh the rest (and clear its errors)
  }

  function setTip(header) {
    state.tip = header;
    $('#tip-height').textContent = String(header.height); // at once: a test hook
    renderSoon();
    refreshViewSoon();
  }

  // One newHeads header. After a reorganisation the node sends the new branch again
  // from the fork point: the last header received for a height wins.
  function acceptHeader(hd) {
    if (!hd || typeof hd.height !== 'number' || typeof hd.id !== 'string') return;
    const chain = state.chain;
    const at = chain.findIndex((x) => x.height === hd.height);
    if (at >= 0 && chain[at].id === hd.id) return; // a replay of what we have
    const older = at < 0 && chain.length > 0 && chain[0].height > hd.height;
    if (at >= 0) chain.length = at;
    else if (older) chain.length = 0;
    const last = chain[chain.length - 1];
    if (older || (last && (last.height !== hd.height - 1 || last.id !== hd.prev))) {
      loadSnapshot().catch((e) => setError('status', e)); // a gap: fetch it whole
    }
    chain.push(hd);
    if (chain.length > CHART_BLOCKS + 1) chain.splice(0, chain.length - CHART_BLOCKS - 1);
    setTip(hd);
    statusSoon();
  }

  // Transaction count, size and coinbase recipient of the listed blocks: headers
  // carry none of them, so each takes a block (ids only) and its coinbase.
  let detailsBusy = false;
  async function fetchDetails() {
    const want = latest().map((hd) => hd.id).filter((id) => !state.details.has(id));
    if (detailsBusy || !want.length) return;
    detailsBusy = true;
    let ok = false;
    want.forEach((id) => state.details.set(id, null));
    try {
      const blocks = await rpc.batch(want.map((id) => ['chain_getBlockByHash', [id, false]]));
      const found = blocks.filter((b) => b.ok && b.value.txs.length);
      const cbs = found.length
        ? await rpc.batch(found.map((b) => ['tx_get', [b.value.txs[0]]]))
        : [];
      want.forEach((id) => state.details.delete(id)); // what fails is retried on the next render
      found.forEach((b, i) => {
        const cb = cbs[i] && cbs[i].ok ? cbs[i].value.tx : null;
        state.details.set(b.value.id, { txs: b.value.txs.length, size: b.value.size, miner: cb && cb.outputs ? cb.outputs[0].to : null });
      });
      const failed = blocks.find((b) => !b.ok);
      if (failed) setError('blocks', failed.error); else clearError('blocks');
      ok = !failed;
    } catch (e) {
      want.forEach((id) => state.details.delete(id));
      setError('blocks', e);
    } finally {
      detailsBusy = false;
    }
    const keep = new Set(state.chain.map((hd) => hd.id));
    for (const id of state.details.keys()) if (!keep.has(id)) state.details.delete(id);
    renderBlocks();
    // Blocks that arrived during the fetch (a failure waits for the next render).
    if (ok && latest().some((hd) => !state.details.has(hd.id))) fetchDetails();
  }

  // ------------------------------------------------------------------ home view

  let renderTimer = null;
  function renderSoon() {
    renderTimer = renderTimer || setTimeout(() => { renderTimer = null; renderHome(); }, 30);
  }

  function renderHome() {
    const tip = state.tip;
    if (tip) {
      fill($('#stat-height'), h('a', { href: `#/block/${tip.id}` }, int(tip.height)));
      fill($('#tip-id'), hashLink(`#/block/${tip.id}`, tip.id));
      fill($('#tip-age'), 'mined ', timeEl(tip.timestamp));
      // The tip's own target, so the card agrees with the chart at every new block.
      $('#stat-difficulty').textContent = si(difficulty(tip.target));
      $('#stat-target').textContent = `target ${tip.target}`;
    }
    renderBlocks();
    drawChart();
    // Block times exclude genesis → 1 (chartPoints leaves that one out).
    const times = chartView.pts.map((p) => p.dt).filter((v) => v != null);
    if (times.length) {
      const avg = times.reduce((a, b) => a + b, 0) / times.length;
      $('#stat-blocktime').textContent = duration(avg);
      $('#stat-blocktime-sub').textContent = `mean of the last ${times.length}`;
      $('#stat-blocktime-last').textContent = `last ${duration(times[times.length - 1])}`;
    } else {
      $('#stat-blocktime').textContent = '—';
      $('#stat-blocktime-sub').textContent = 'needs two blocks after genesis';
      $('#stat-blocktime-last').textContent = '';
    }
    fetchDetails();
  }

  function blockRow(hd, fresh) {
    return h('tr', { 'data-height': hd.height, 'data-id': hd.id, class: fresh ? 'fresh' : null },
      h('td', { class: 'num' }, h('a', { href: `#/block/${hd.id}` }, int(hd.height))),
      h('td', {}, hashLink(`#/block/${hd.id}`, hd.id, 'block-link')),
      h('td', {}, timeEl(hd.timestamp)),
      h('td', { class: 'num', 'data-cell': 'txs' }, '…'),
      h('td', { class: 'num', 'data-cell': 'size' }, '…'),
      h('td', { 'data-cell': 'miner' }, '…'));
  }

  function fillDetails(tr, d) {
    const cell = (name) => tr.querySelector(`[data-cell="${name}"]`);
    cell('txs').textContent = int(d.txs);
    cell('size').textContent = bytes(d.size);
    fill(cell('miner'), d.miner ? accountLink(d.miner) : '—');
  }

  // Rows are kept per block id, so a row a reader (or a test) holds stays in the
  // document while newer blocks arrive above it.
  function renderBlocks() {
    const tbody = $('#blocks');
    const existing = new Map([...tbody.children].map((tr) => [tr.dataset.id, tr]));
    const fresh = existing.size > 0; // highlight arrivals, not the first fill
    latest().forEach((hd, i) => {
      let tr = existing.get(hd.id);
      if (tr) existing.delete(hd.id); else tr = blockRow(hd, fresh);
      const d = state.details.get(hd.id);
      if (d && !tr.dataset.filled) {
        fillDetails(tr, d);
        tr.dataset.filled = '1';
      }
      if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null);
    });
    existing.forEach((tr) => tr.remove());
    $('#blocks-empty').hidden = tbody.children.length > 0;
  }

  // `peers`: how many are connected, or null when unknown.
  function renderInfo(info, peers) {
    if (!state.tip) { // renderHome shows the tip's difficulty once there is one
      $('#stat-difficulty').textContent = si(info.difficulty);
      $('#stat-target').textContent = `target ${info.target}`;
    }
    const s = info.sync;
    let sub;
    if (!s) {
      $('#stat-sync').textContent = 'standalone';
      sub = 'networking is off';
    } else if (info.syncing) {
      const pct = s.bestPeerHeight > 0 ? Math.min(100, (100 * s.height) / s.bestPeerHeight) : 100;
      $('#stat-sync').textContent = `syncing ${pct.toFixed(1)} %`;
      sub = `${int(s.height)} of ${int(s.bestPeerHeight)}`;
    } else {
      $('#stat-sync').textContent = 'synced';
      if (peers === 0) sub = 'no peers connected';
      else if (s.bestPeerHeight > info.height) sub = `best peer at ${int(s.bestPeerHeight)}`;
      else sub = 'no peer is ahead';
    }
    $('#stat-sync-sub').textContent = sub;
    // Without the socket, the poll is what keeps the page current.
    if (!state.tip || (info.height !== state.tip.height && !state.socketLive)) {
      loadSnapshot().catch((e) => setError('status', e));
    }
  }

  function renderMempool(m) {
    $('#stat-mempool').textContent = `${int(m.size)} txs`;
    $('#stat-mempool-sub').textContent = `${bytes(m.bytes)} of ${bytes(m.maxBytes)}`;
    const fee = $('#stat-mempool-fee');
    fee.textContent = `min fee ${coins(m.minFee)} coins`;
    fee.title = `${m.minFee} base units`;
  }

  function renderMining(m) {
    $('#stat-hashrate').textContent = si(m.networkHashrate, 'H/s');
    $('#stat-hashrate-sub').textContent = 'last 60 blocks';
    // The built-in miner: its rate, kernel and threads, and (once the self-test after
    // start has run) the kernel against blake3's own rate, so a slow path shows.
    const lm = m.localMiner;
    const local = lm
      ? `this node ${si(m.localHashrate, 'H/s')} · ${lm.backend} × ${lm.threads}`
        + (lm.selfTest ? ` · ${lm.selfTest.ratio.toFixed(2)}× blake3` : '')
      : '';
    const el = $('#stat-hashrate-local');
    el.textContent = local;
    el.title = lm && lm.selfTest
      ? `kernel ${si(lm.selfTest.kernelHashesPerSecond, 'H/s')} on one thread, blake3 ${si(lm.selfTest.limitCompressionsPerSecond, '/s')} compressions`
      : '';
  }

  function renderPeers(peers) {
    const inbound = peers.filter((p) => p.direction === 'inbound').length;
    $('#stat-peers').textContent = int(peers.length);
    $('#stat-peers-sub').textContent = `${inbound} in · ${peers.length - inbound} out`;
    fill($('#peers'), peers.slice(0, MAX_PEER_ROWS).map((p) => h('tr', {},
      h('td', {}, h('span', { class: 'mono', title: p.id }, shortHash(p.id))),
      h('td', {}, h('span', { class: 'mono', title: p.address }, p.address)),
      h('td', {}, p.direction === 'inbound' ? 'in' : 'out'),
      h('td', { class: 'num' }, p.height == null ? '—' : int(p.height)),
      h('td', { class: 'clip', title: p.agent || '' }, p.agent || '—'),
      h('td', { class: 'num', title: `penalty ${p.penalty}` }, Number(p.gossipScore).toFixed(1)))));
    $('#peers-empty').hidden = peers.length > 0;
    $('#peers-more').textContent = peers.length > MAX_PEER_ROWS
      ? `${MAX_PEER_ROWS} of ${peers.length} shown` : '';
  }

  async function refreshStatus() {
    try {
      const [info, mempool, peers, mining] = await rpc.batch([
        ['chain_getInfo', []], ['mempool_getInfo', []], ['net_getPeers', []], ['mining_getInfo', []],
      ]);
      const peerCount = peers.ok ? peers.value.length : null;
      const render = [[info, (v) => renderInfo(v, peerCount)], [mempool, renderMempool],
        [peers, renderPeers], [mining, renderMining]];
      for (const [r, fn] of render) if (r.ok) fn(r.value);
      const failed = render.find(([r]) => !r.ok);
      if (failed) setError('status', failed[0].error); else clearError('status');
    } catch (e) {
      setError('status', e);
    }
  }
  const statusSoon = throttle(refreshStatus, 1000);

  // ------------------------------------------------------------------ chart

  // unitOf picks the axis unit from the panel's scale; values keep base units
  // (seconds, hashes per second).
  const PANELS = [
    { key: 'dt', title: 'Block time', color: '--series-1', bars: true, unitOf: timeUnit },
    { key: 'diff', title: 'Difficulty', color: '--series-2', unitOf: siUnit('') },
    { key: 'hr', title: `Hashrate (${HASHRATE_WINDOW}-block average)`, color: '--series-3', unitOf: siUnit('H/s') },
  ];
  const chartView = { pts: [], hover: -1, x0: 0, slot: 1 };

  // Genesis carries a hand-set timestamp, long before block 1: no interval that
  // starts there is a block time, nor part of a hashrate.
  function chartPoints() {
    const c = state.chain;
    const genesis = c.findIndex((x) => x.height === 0);
    const pts = [];
    for (let i = Math.max(0, c.length - CHART_BLOCKS); i < c.length; i += 1) {
      const hd = c[i];
      const prev = c[i - 1];
      const j = Math.max(0, i - HASHRATE_WINDOW, genesis + 1);
      let work = 0;
      for (let k = j + 1; k <= i; k += 1) work += difficulty(c[k].target);
      const span = i > j ? (hd.timestamp - c[j].timestamp) / 1000 : 0;
      pts.push({
        height: hd.height,
        id: hd.id,
        dt: prev && prev.height > 0 && prev.height === hd.height - 1 ? (hd.timestamp - prev.timestamp) / 1000 : null,
        diff: difficulty(hd.target),
        hr: span > 0 ? work / span : null,
      });
    }
    return pts;
  }

  // The smallest of 1, 2, 2.5, 5 × 10^k at least x.
  function niceStep(x) {
    const p = 10 ** Math.floor(Math.log10(x));
    return [1, 2, 2.5, 5, 10].find((m) => m * p >= x * (1 - 1e-9)) * p;
  }

  // The value range of a panel in its display unit, widened to round ticks:
  // [lo, hi, step, decimals], with ticks at lo, lo + step and hi.
  function yRange(vals, fromZero) {
    let lo = fromZero ? 0 : Math.min(...vals);
    let hi = Math.max(...vals);
    if (fromZero) {
      // One stalled block would flatten every other bar.
      const sorted = [...vals].sort((a, b) => a - b);
      const median = sorted[Math.floor(sorted.length / 2)];
      if (median > 0) hi = Math.min(hi, median * 4);
    }
    const pad = hi > lo ? (hi - lo) * 0.1 : Math.abs(hi) * 0.05 || 1;
    if (!fromZero) lo = Math.max(0, lo - pad);
    if (!fromZero || hi <= lo) hi += pad;
    let step = niceStep((hi - lo) / 2);
    let base = fromZero ? 0 : Math.floor(lo / step) * step;
    while (base + 2 * step < hi * (1 - 1e-9)) {
      step = niceStep(step * 1.01);
      base = fromZero ? 0 : Math.floor(lo / step) * step;
    }
    let decimals = 0;
    while (decimals < 8 && Math.abs(step * 10 ** decimals - Math.round(step * 10 ** decimals)) > 1e-6) decimals += 1;
    return [base, base + 2 * step, step, decimals];
  }

  function drawPanel(g, panel, pts, box, pal) {
    const color = pal.get(panel.color);
    const vals = pts.map((p) => p[panel.key]).filter((v) => v != null && Number.isFinite(v));
    g.textBaseline = 'alphabetic';
    g.textAlign = 'left';
    g.fillStyle = color;
    g.fillRect(box.left, box.title - 8, 10, 3);
    g.fillStyle = pal.fg;
    g.fillText(panel.title, box.left + 14, box.title);
    if (!vals.length) {
      g.fillStyle = pal.muted;
      g.fillText('waiting for blocks…', box.left + 14, (box.top + box.bottom) / 2);
      return;
    }
    const lastVal = vals[vals.length - 1];
    const avg = vals.reduce((a, b) => a + b, 0) / vals.length;
    g.textAlign = 'right';
    g.fillStyle = pal.muted;
    g.fillText(`last ${auto(panel.unitOf, lastVal)} · mean ${auto(panel.unitOf, avg)}`, box.right, box.title);
    // One unit per axis, from the scale shown; values are drawn in it.
    const [, rawHi] = yRange(vals, panel.bars);
    const [div, suffix] = panel.unitOf(rawHi);
    const [lo, hi, step, decimals] = yRange(vals.map((v) => v / div), panel.bars);
    g.strokeStyle = pal.grid;
    g.lineWidth = 1;
    g.textBaseline = 'middle';
    for (let t = 0; t <= 2; t += 1) {
      const y = Math.round(box.bottom - (t / 2) * (box.bottom - box.top)) + 0.5;
      g.beginPath(); g.moveTo(box.left, y); g.lineTo(box.right, y); g.stroke();
      g.fillText(withUnit((lo + t * step).toFixed(decimals), suffix), box.left - 6, y);
    }
    const y = (raw) => {
      const v = raw / div;
      return box.bottom - ((Math.max(lo, Math.min(v, hi)) - lo) / (hi - lo)) * (box.bottom - box.top);
    };
    const x = (i) => chartView.x0 + (i + 0.5) * chartView.slot;
    g.fillStyle = color;
    g.strokeStyle = color;
    if (panel.bars) {
      const w = Math.max(1, chartView.slot * 0.7);
      pts.forEach((p, i) => {
        const v = p[panel.key];
        if (v == null) return;
        g.fillRect(x(i) - w / 2, y(v), w, box.bottom - y(v));
        if (v / div > hi) { // clipped: a mark on top says "more than shown"
          g.fillStyle = pal.fg; g.fillRect(x(i) - w / 2, box.top - 2, w, 2); g.fillStyle = color;
        }
      });
      return;
    }
    g.lineWidth = 1.5;
    g.beginPath();
    let pen = false;
    pts.forEach((p, i) => {
      const v = p[panel.key];
      if (v == null || !Number.isFinite(v)) { pen = false; return; }
      if (pen) g.lineTo(x(i), y(v)); else g.moveTo(x(i), y(v));
      pen = true;
    });
    g.stroke();
  }

  function drawChart() {
    const canvas = $('#chart');
    const pts = chartPoints();
    chartView.pts = pts;
    canvas.dataset.blocks = String(pts.length);
    canvas.dataset.lastHeight = pts.length ? String(pts[pts.length - 1].height) : '';
    const w = canvas.clientWidth;
    const ht = canvas.clientHeight;
    if (!w || !ht) return; // hidden: drawn when shown again (ResizeObserver)
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(w * dpr)) canvas.width = Math.round(w * dpr);
    if (canvas.height !== Math.round(ht * dpr)) canvas.height = Math.round(ht * dpr);
    const g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, ht);
    const css = getComputedStyle(canvas);
    const pal = {
      get: (name) => css.getPropertyValue(name).trim() || '#888',
      fg: css.getPropertyValue('--fg').trim() || '#222',
      muted: css.getPropertyValue('--muted').trim() || '#777',
      grid: css.getPropertyValue('--grid').trim() || '#ddd',
    };
    g.font = `11px ${css.fontFamily}`;
    const left = 70;
    const right = w - 10;
    const axis = 18;
    const panelH = (ht - axis) / PANELS.length;
    chartView.slot = (right - left) / CHART_BLOCKS;
    chartView.x0 = left + (CHART_BLOCKS - pts.length) * chartView.slot; // newest on the right
    PANELS.forEach((panel, k) => {
      const top = k * panelH;
      drawPanel(g, panel, pts, { left, right, title: top + 13, top: top + 24, bottom: top + panelH - 8 }, pal);
    });
    g.fillStyle = pal.muted;
    g.textAlign = 'center';
    g.textBaseline = 'bottom';
    const every = Math.max(1, Math.ceil(pts.length / Math.max(1, Math.floor((right - left) / 70))));
    pts.forEach((p, i) => {
      if ((pts.length - 1 - i) % every === 0) g.fillText(String(p.height), chartView.x0 + (i + 0.5) * chartView.slot, ht);
    });
    if (chartView.hover >= 0 && chartView.hover < pts.length) {
      const hx = Math.round(chartView.x0 + (chartView.hover + 0.5) * chartView.slot) + 0.5;
      g.strokeStyle = pal.muted;
      g.lineWidth = 1;
      g.beginPath(); g.moveTo(hx, 0); g.lineTo(hx, ht - axis); g.stroke();
    }
  }

  const chartSoon = throttle(drawChart, 50);

  function pointAt(ev) {
    const r = ev.currentTarget.getBoundingClientRect();
    const i = Math.floor((ev.clientX - r.left - chartView.x0) / chartView.slot);
    return i >= 0 && i < chartView.pts.length ? i : -1;
  }

  function hoverChart(ev) {
    const i = ev.type === 'mouseleave' ? -1 : pointAt(ev);
    if (i === chartView.hover) return;
    chartView.hover = i;
    const p = chartView.pts[i];
    $('#chart-readout').textContent = p
      ? `#${p.height} · block time ${p.dt == null ? '—' : duration(p.dt)} · difficulty ${si(p.diff)} · ${si(p.hr, 'H/s')}`
      : 'Point at a block for its values; click to open it.';
    chartSoon();
  }

  // ------------------------------------------------------------------ WebSocket

  const socket = { ws: null, retries: 0 };

  function setLive(text) {
    state.socketLive = text === 'live';
    $('#live').textContent = text;
    $('#live-dot').dataset.state = text;
  }

  function connect() {
    setLive('connecting');
    let ws;
    try {
      ws = new WebSocket(`${location.protocol === 'https:' ? 'wss://' : 'ws://'}${location.host}/ws`);
    } catch (e) {
      setError('socket', e);
      reconnectLater();
      return;
    }
    socket.ws = ws;
    ws.onopen = async () => {
      try {
        await loadSnapshot();
      } catch (e) {
        setError('socket', e);
        ws.close();
        return;
      }
      if (ws.readyState !== WebSocket.OPEN) return;
      // Replay from just past the snapshot, so nothing between the two is missed.
      const params = state.tip ? ['newHeads', { fromHeight: state.tip.height + 1 }] : ['newHeads'];
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: SUBSCRIBE_ID, method: 'subscribe', params }));
    };
    ws.onmessage = (ev) => onSocketMessage(ws, ev.data);
    ws.onclose = () => {
      if (socket.ws !== ws) return;
      socket.ws = null;
      setLive('offline');
      reconnectLater();
    };
  }

  function onSocketMessage(ws, text) {
    let msg;
    try { msg = JSON.parse(text); } catch { return; }
    if (msg.id === SUBSCRIBE_ID) {
      if (msg.error) {
        setError('socket', new RpcError('subscribe', msg.error));
        ws.close();
        return;
      }
      socket.retries = 0;
      clearError('socket');
      setLive('live');
      return;
    }
    // The replay may overtake the answer carrying the subscription id; this
    // connection holds one subscription, so every notification is ours.
    if (msg.method === 'subscription' && msg.params) acceptHeader(counts(msg.params.result));
  }

  function reconnectLater() {
    const delay = Math.min(30000, 1000 * 2 ** socket.retries) * (0.8 + Math.random() * 0.4);
    socket.retries = Math.min(socket.retries + 1, 5);
    setLive(`offline, retry in ${Math.round(delay / 1000)} s`);
    setTimeout(connect, delay);
  }

  // ------------------------------------------------------------------ detail views

  const VIEWS = ['home-view', 'block-view', 'tx-view', 'account-view', 'pool-view'];
  let navToken = 0;
  let current = null; // {refresh} of the detail view on screen, for live updates

  function showView(id) {
    for (const v of VIEWS) $(`#${v}`).hidden = v !== id;
  }

  function beginView(id, what) {
    showView(id);
    current = null;
    document.title = `${what[0].toUpperCase()}${what.slice(1)} · Cairn explorer`;
    return fill($(`#${id}`), h('p', { class: 'empty' }, `Loading ${what}…`));
  }

  const refreshViewSoon = throttle(() => {
    if (current) current.refresh().catch(() => {}); // the next tip tries again
  }, 1500);

  async function showBlock(ref, token) {
    const el = beginView('block-view', `block ${shortHash(ref)}`);
    let b;
    try {
      b = /^\d{1,19}$/.test(ref)
        ? await rpc('chain_getBlockByHeight', [Number(ref), true])
        : await rpc('chain_getBlockByHash', [ref.toLowerCase(), true]);
    } catch (e) {
      // A pasted link may hold a transaction id.
      if (e.code === UNKNOWN_BLOCK && /^[0-9a-f]{64}$/i.test(ref) && await isTx(ref)) {
        location.replace(`#/tx/${ref.toLowerCase()}`);
        return;
      }
      throw e;
    }
    if (token !== navToken) return;
    const coinbase = b.txs.find((t) => t.type === 'coinbase');
    const fees = b.txs.reduce((sum, t) => (t.fee ? sum + BigInt(t.fee) : sum), 0n);
    const confs = h('span', {}, int(b.confirmations));
    const tipHeight = state.tip ? state.tip.height : -1;
    fill(el,
      h('div', { class: 'view-head' },
        h('h2', {}, 'Block ', h('span', { 'data-field': 'height' }, String(b.height))),
        h('nav', { class: 'pager' },
          b.height > 0 ? h('a', { href: `#/block/${b.prev}` }, '← previous') : null,
          b.mainChain && b.height < tipHeight ? h('a', { href: `#/block/${b.height + 1}` }, 'next →') : null)),
      fields([
        ['Block id', h('span', { class: 'mono hash' }, b.id), 'id'],
        ['Chain', b.mainChain ? 'main chain' : 'side chain (not on the best chain)', 'status'],
        ['Confirmations', confs, 'confirmations'],
        ['Time', [isoTime(b.timestamp), ' · ', timeEl(b.timestamp)], 'timestamp'],
        ['Previous', b.height > 0 ? hashLink(`#/block/${b.prev}`, b.prev, '', true) : 'none (genesis)', 'prev'],
        ['Miner', coinbase ? payees(coinbase) : '—', 'miner'],
        ['Coinbase', coinbase ? amountFull(coinbase.amount) : '—', 'reward'],
        ['Fees', amountFull(fees.toString()), 'fees'],
        ['Transactions', int(b.txs.length), 'txcount'],
        ['Size', `${int(b.size)} bytes`, 'size'],
        ['Difficulty', [si(difficulty(b.target)), h('span', { class: 'muted mono' }, ` target ${b.target}`)], 'difficulty'],
        ['Tx root', h('span', { class: 'mono hash' }, b.txRoot), 'txroot'],
        ['Nonce', h('span', { class: 'mono' }, String(b.nonce)), 'nonce'],
        ['Version', String(b.version), 'version'],
      ]),
      h('h3', {}, `Transactions (${int(b.txs.length)})`),
      txTable(b.txs));
    current = {
      refresh: async () => {
        if (b.mainChain && state.tip) confs.textContent = int(state.tip.height - b.height + 1);
      },
    };
  }

  // tx_get answers {txid, status, tx, block, height, index, confirmations}; the
  // views read one flat object, with the transaction's own fields at the top.
  const flatLookup = (l) => ({ ...(l.tx || {}), id: l.txid, status: l.status, block: l.block,
    height: l.height == null ? (l.tx && l.tx.height) : l.height, index: l.index, confirmations: l.confirmations });

  async function lookupTx(id) {
    const l = await rpc('tx_get', [id.toLowerCase()]);
    if (l.status === 'unknown') throw new Error(`no transaction ${id} (neither pending nor confirmed)`);
    return flatLookup(l);
  }

  // state_getHistory answers [{tx, block, height, confirmations}], flattened likewise.
  async function history(address, blocks) {
    const entries = await rpc('state_getHistory', [address, blocks]);
    return entries.map((e) => ({ ...e.tx, block: e.block, height: e.height, confirmations: e.confirmations }));
  }

  async function isTx(id) {
    try { await lookupTx(id); return true; } catch { return false; }
  }

  function txTable(txs) {
    return table([['#', 'num'], 'Transaction', 'From', 'To', ['Amount', 'num'], ['Fee', 'num']],
      txs.map((t, i) => h('tr', {},
        h('td', { class: 'num' }, String(i)),
        h('td', {}, hashLink(`#/tx/${t.id}`, t.id, 'tx-link')),
        h('td', {}, t.type === 'coinbase' ? h('span', { class: 'tag' }, 'coinbase') : accountLink(t.from)),
        h('td', {}, t.type === 'coinbase' ? payees(t) : accountLink(t.to)),
        h('td', { class: 'num' }, coins(t.amount)),
        h('td', { class: 'num' }, t.fee == null ? '' : coins(t.fee)))));
  }

  async function showTx(id, token) {
    const el = beginView('tx-view', 'transaction');
    const t = await lookupTx(id);
    if (token !== navToken) return;
    const status = h('span');
    const where = h('span');
    const confs = h('span');
    const setStatus = (tx) => {
      fill(status, h('span', { class: `tag ${tx.status}` }, tx.status));
      fill(where, tx.status === 'confirmed'
        ? [hashLink(`#/block/${tx.block}`, tx.block, '', true), h('span', { class: 'muted' }, ` height ${int(tx.height)}, index ${tx.index}`)]
        : 'none yet: waiting in the mempool');
      confs.textContent = tx.status === 'confirmed' ? int(tx.confirmations) : '0';
    };
    setStatus(t);
    const transfer = t.type === 'transfer';
    fill(el,
      h('div', { class: 'view-head' }, h('h2', {}, transfer ? 'Transfer' : 'Coinbase transaction')),
      fields([
        ['Transaction id', h('span', { class: 'mono hash' }, t.id), 'txid'],
        ['Status', status, 'status'],
        ['Block', where, 'block'],
        ['Confirmations', confs, 'confirmations'],
        ['From', transfer ? accountLink(t.from, true) : 'new coins (block subsidy and fees)', 'from'],
        ['To', transfer ? accountLink(t.to, true) : outputList(t), 'to'],
        ['Amount', amountFull(t.amount), 'amount'],
        !transfer && ['Spendable from', h('a', { href: `#/block/${t.maturesAt}` }, `height ${int(t.maturesAt)}`), 'matures'],
        transfer && ['Fee', amountFull(t.fee), 'fee'],
        transfer && ['Nonce', String(t.nonce), 'nonce'],
        transfer && ['Chain id', String(t.chainId), 'chainid'],
        transfer && ['Sender key', h('span', { class: 'mono hash' }, t.sender), 'sender'],
        transfer && ['Signature', h('span', { class: 'mono hash' }, t.signature), 'signature'],
        !transfer && ['Paid at height', h('a', { href: `#/block/${t.height}` }, int(t.height)), 'height'],
      ]));
    let last = t;
    current = {
      refresh: async () => {
        if (last.status === 'confirmed' && state.tip) {
          confs.textContent = int(state.tip.height - last.height + 1);
          return;
        }
        const now = flatLookup(await rpc('tx_get', [t.id]));
        if (token === navToken) { last = now; setStatus(now); }
      },
    };
  }

  // A coinbase's recipients: the one link of a solo miner's, or how many a pool paid.
  function payees(cb) {
    if (cb.outputs.length === 1) return accountLink(cb.outputs[0].to, true);
    return h('span', {}, accountLink(cb.outputs[0].to), h('span', { class: 'muted' }, ` and ${int(cb.outputs.length - 1)} more`));
  }

  function outputList(cb) {
    return h('ul', { class: 'outputs' }, cb.outputs.map((o) => h('li', {}, accountLink(o.to, true), ' ', coins(o.amount))));
  }

  // What a transaction moved for `address`: a coinbase pays it its own output.
  function amountFor(t, address) {
    if (t.type !== 'coinbase') return t.amount;
    const o = t.outputs.find((x) => x.to === address);
    return o ? o.amount : '0';
  }

  function direction(t, address) {
    if (t.type === 'coinbase') return 'mined';
    if (t.from === address) return t.to === address ? 'self' : 'out';
    return 'in';
  }

  function historyRow(t, address) {
    const dir = direction(t, address);
    const other = dir === 'out' || dir === 'self' ? t.to : t.from;
    const sign = { out: '−', in: '+', mined: '+', self: '' }[dir];
    return h('tr', { 'data-txid': t.id },
      h('td', { class: 'num' }, h('a', { href: `#/block/${t.block}` }, int(t.height))),
      h('td', {}, hashLink(`#/tx/${t.id}`, t.id, 'tx-link')),
      h('td', {}, h('span', { class: `tag ${dir}` }, dir)),
      h('td', {}, other ? accountLink(other) : h('span', { class: 'muted' }, 'block reward')),
      h('td', { class: `num ${dir}` }, `${sign}${coins(amountFor(t, address))}`),
      h('td', { class: 'num' }, dir === 'out' || dir === 'self' ? coins(t.fee) : ''));
  }

  async function showAccount(address, token) {
    const el = beginView('account-view', 'account');
    const scanTip = state.tip ? state.tip.height : 0;
    const [acct, hist] = await Promise.all([
      rpc('state_getAccount', [address]),
      history(address, HISTORY_SCANS[0]),
    ]);
    if (token !== navToken) return;
    const view = { scan: 0, scanTip, seen: new Set() };
    const vals = {};
    const val = (name) => { vals[name] = h('span'); return vals[name]; };
    const setAccount = (a) => {
      vals.balance.textContent = a.balance;
      vals.coins.textContent = `${coins(a.balance)} coins`;
      vals.spendable.textContent = `${coins(a.spendable)} coins`;
      vals.immature.textContent = `${coins(a.immature)} coins`;
      vals.pending.textContent = `${coins(a.pendingBalance)} coins`;
      vals.nonce.textContent = String(a.nonce);
      vals.pendingTxs.textContent = a.pendingTxs ? `${int(a.pendingTxs)} (next nonce ${a.pendingNonce})` : 'none';
    };
    const tbody = h('tbody');
    const note = h('p', { class: 'muted' });
    const more = h('button', { type: 'button', class: 'more' });
    const setHistory = (entries) => {
      view.seen = new Set(entries.map((t) => t.id));
      fill(tbody, entries.map((t) => historyRow(t, acct.address)));
      const blocks = HISTORY_SCANS[view.scan];
      note.textContent = `${entries.length ? int(entries.length) : 'No'} confirmed transactions in the last ${int(blocks)} blocks`
        + `${entries.length >= HISTORY_LIMIT ? ` (the newest ${int(HISTORY_LIMIT)} shown)` : ''}.`;
      const next = HISTORY_SCANS[view.scan + 1];
      more.hidden = !next || entries.length >= HISTORY_LIMIT || scanTip < blocks;
      if (next) more.textContent = `Scan the last ${int(next)} blocks`;
    };
    more.addEventListener('click', async () => {
      more.disabled = true;
      try {
        const entries = await history(acct.address, HISTORY_SCANS[view.scan + 1]);
        if (token !== navToken) return;
        view.scan += 1;
        setHistory(entries);
        clearError('view');
      } catch (e) {
        setError('view', e);
      } finally {
        more.disabled = false;
      }
    });
    fill(el,
      h('div', { class: 'view-head' }, h('h2', {}, 'Account')),
      fields([
        ['Address', h('span', { class: 'mono hash' }, acct.address), 'address'],
        ['Balance', [
          h('span', { class: 'amount', 'data-field': 'balance-coins' }, val('coins')),
          h('span', { class: 'muted' }, ' (', h('span', { class: 'mono', 'data-field': 'balance' }, val('balance')), ' base units)'),
        ]],
        ['Spendable', val('spendable'), 'spendable'],
        ['Immature', val('immature'), 'immature'],
        ['With pending', val('pending'), 'pending-balance'],
        ['Nonce', val('nonce'), 'nonce'],
        ['Pending transfers', val('pendingTxs'), 'pending-txs'],
      ]),
      h('h3', {}, 'History'),
      table([['Height', 'num'], 'Transaction', 'Kind', 'Counterparty', ['Amount', 'num'], ['Fee', 'num']], tbody),
      note, more);
    setAccount(acct);
    setHistory(hist);
    current = {
      refresh: async () => {
        const tip = state.tip ? state.tip.height : view.scanTip;
        const back = tip - view.scanTip + 1;
        const [a, recent] = await Promise.all([
          rpc('state_getAccount', [acct.address]),
          back > 0 && back <= HISTORY_SCANS[0] ? history(acct.address, back) : [],
        ]);
        if (token !== navToken) return;
        setAccount(a);
        // Newest first: insert the new ones above the rows already shown, in order.
        const fresh = recent.filter((t) => !view.seen.has(t.id));
        fresh.reverse().forEach((t) => { view.seen.add(t.id); tbody.prepend(historyRow(t, acct.address)); });
        view.scanTip = tip;
      },
    };
  }

  // ------------------------------------------------------------------ pool

  // The Stratum pool: its figures, workers, current payout, and last pool blocks.
  async function showPool(_, token) {
    const el = beginView('pool-view', 'pool');
    const load = () => Promise.all([
      rpc('pool_getInfo'), rpc('pool_getWorkers'), rpc('pool_getPayouts', { limit: 20 }),
    ]);
    const render = ([info, workers, payouts]) => {
      if (!info.enabled) {
        fill(el, h('div', { class: 'view-head' }, h('h2', {}, 'Pool')),
          h('p', { class: 'empty', 'data-field': 'pool-off' }, 'This node runs no pool (start it with --pool).'));
        return;
      }
      const refusals = Object.entries(info.refusals).map(([r, n]) => `${r} ${int(n)}`).join(', ') || 'none';
      fill(el,
        h('div', { class: 'view-head' }, h('h2', {}, 'Pool')),
        fields([
          ['Stratum', h('span', { class: 'mono' }, info.listen), 'listen'],
          ['Pool address', accountLink(info.address, true), 'pool-address'],
          ['Fee', `${(info.feePpm / 10000).toFixed(2)} %`, 'fee'],
          ['Window', `${int(info.windowBlocks)} blocks of work (${si(Number(info.windowWork), 'H')})`, 'window'],
          ['Sessions', int(info.sessions), 'sessions'],
          ['Share rate', `${si(info.shareRate)}/s`, 'share-rate'],
          ['Hashrate', si(info.hashrate, 'H/s'), 'hashrate'],
          ['Blocks found', int(info.blocks), 'blocks'],
          ['Refusals', refusals, 'refusals'],
        ]),
        h('h3', {}, 'Workers'),
        table(['Address', 'Worker', ['Difficulty', 'num'], ['Accepted', 'num'], ['Refused', 'num'], ['Hashrate', 'num'], 'Last share'],
          workers.map((w) => h('tr', { 'data-worker': w.worker },
            h('td', {}, accountLink(w.address)),
            h('td', {}, w.worker),
            h('td', { class: 'num' }, si(Number(w.difficulty))),
            h('td', { class: 'num' }, int(w.accepted)),
            h('td', { class: 'num' }, int(w.refused)),
            h('td', { class: 'num' }, si(w.hashrate, 'H/s')),
            h('td', {}, Number(w.lastShare) ? ago(Number(w.lastShare)) : '—')))),
        h('h3', {}, 'Next block pays'),
        info.job ? table(['Recipient', ['Amount', 'num']], info.job.outputs.map((o) => h('tr', {},
          h('td', {}, accountLink(o.to)), h('td', { class: 'num' }, coins(o.amount))))) : h('p', { class: 'empty' }, 'no job yet'),
        h('h3', {}, 'Last pool blocks'),
        payouts.blocks.length
          ? table([['Height', 'num'], 'Block', ['Outputs', 'num'], ['Paid', 'num']], payouts.blocks.map((b) => h('tr', {},
            h('td', { class: 'num' }, h('a', { href: `#/block/${b.block}` }, int(b.height))),
            h('td', {}, hashLink(`#/block/${b.block}`, b.block)),
            h('td', { class: 'num' }, int(b.outputs.length)),
            h('td', { class: 'num' }, coins(b.outputs.reduce((sum, o) => sum + BigInt(o.amount), 0n).toString())))))
          : h('p', { class: 'empty' }, 'none yet'),
        h('h3', {}, 'Carried credits'),
        payouts.credits.length
          ? table(['Miner', ['Credit', 'num']], payouts.credits.map((c) => h('tr', {},
            h('td', {}, accountLink(c.address)), h('td', { class: 'num' }, coins(c.amount)))))
          : h('p', { class: 'empty' }, 'none: every miner was paid in full'));
    };
    const first = await load();
    if (token !== navToken) return;
    render(first);
    current = {
      refresh: async () => {
        const next = await load();
        if (token === navToken) render(next);
      },
    };
  }

  // ------------------------------------------------------------------ routing, search

  async function route() {
    const token = ++navToken;
    clearError('view');
    let kind = '';
    let arg = '';
    try {
      [kind = '', arg = ''] = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
    } catch { /* a malformed escape: show home */ }
    const views = new Map([
      ['block', ['block-view', showBlock]],
      ['tx', ['tx-view', showTx]],
      ['account', ['account-view', showAccount]],
    ]);
    const target = kind === 'pool' ? ['pool-view', showPool] : arg && views.get(kind);
    if (!target) {
      current = null;
      document.title = 'Cairn explorer';
      showView('home-view');
      renderSoon();
      return;
    }
    try {
      await target[1](arg, token);
    } catch (e) {
      if (token !== navToken) return;
      setError('view', e);
      fill($(`#${target[0]}`), h('p', { class: 'empty' }, e.message));
    }
  }

  function go(hash) {
    if (location.hash === hash) route(); else location.hash = hash;
  }

  async function search(text) {
    const q = text.trim();
    if (!q) return;
    if (/^\d{1,19}$/.test(q)) return go(`#/block/${q}`);
    if (/^[0-9a-f]{64}$/i.test(q)) {
      const id = q.toLowerCase();
      try {
        await rpc('chain_getBlockByHash', [id, false]);
        return go(`#/block/${id}`);
      } catch (e) {
        if (e.code !== UNKNOWN_BLOCK) throw e;
      }
      if ((await rpc('tx_get', [id])).status !== 'unknown') return go(`#/tx/${id}`);
      throw new Error(`no block or transaction ${id}`);
    }
    if (/^cairn1[02-9ac-hj-np-z]+$/i.test(q)) return go(`#/account/${q.toLowerCase()}`);
    throw new Error('search takes a height, a block or transaction id (64 hex digits) or a cairn1… address');
  }

  // ------------------------------------------------------------------ start

  function start() {
    const form = $('#search-form');
    const input = $('#search');
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      clearError('search');
      search(input.value)
        .then(() => { input.value = ''; input.blur(); })
        .catch((e) => setError('search', e));
    });
    document.addEventListener('keydown', (ev) => {
      if (ev.key === '/' && document.activeElement !== input) { ev.preventDefault(); input.focus(); }
    });
    $('#error').addEventListener('click', () => { errors.clear(); showError(); });
    window.addEventListener('hashchange', () => { clearError('search'); route(); });

    const canvas = $('#chart');
    canvas.addEventListener('mousemove', hoverChart);
    canvas.addEventListener('mouseleave', hoverChart);
    canvas.addEventListener('click', (ev) => {
      const p = chartView.pts[pointAt(ev)];
      if (p) go(`#/block/${p.id}`);
    });
    new ResizeObserver(chartSoon).observe(canvas);
    window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', chartSoon);

    setInterval(() => {
      document.querySelectorAll('[data-ts]').forEach((el) => { el.textContent = ago(Number(el.dataset.ts)); });
    }, 1000);
    setInterval(refreshStatus, STATUS_EVERY_MS);

    rpc('node_getInfo')
      .then((n) => { $('#network').textContent = `${n.network} · v${n.version}`; })
      .catch((e) => setError('status', e));
    route();
    loadSnapshot().catch((e) => setError('status', e));
    refreshStatus();
    connect();
  }

  start();
})();
