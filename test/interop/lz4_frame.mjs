// LZ4 frame format (https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md) in plain
// JavaScript: a decoder for any frame and an encoder that emits real compressed blocks, so the
// interop test needs no npm package besides apache-arrow (which ships no codecs).

const PRIME1 = 2654435761;
const PRIME2 = 2246822519;
const PRIME3 = 3266489917;
const PRIME4 = 668265263;
const PRIME5 = 374761393;

function rotl(x, r) { return ((x << r) | (x >>> (32 - r))) >>> 0; }
function mul(a, b) { return Math.imul(a, b) >>> 0; }
function u32(b, i) { return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0; }

/** xxHash32 with seed 0, used for the frame descriptor checksum. */
export function xxh32(b, seed = 0) {
  let i = 0;
  let h;
  const n = b.length;
  if (n >= 16) {
    let v1 = (seed + PRIME1 + PRIME2) >>> 0, v2 = (seed + PRIME2) >>> 0, v3 = seed >>> 0,
        v4 = (seed - PRIME1) >>> 0;
    for (; i + 16 <= n; i += 16) {
      v1 = mul(rotl((v1 + mul(u32(b, i), PRIME2)) >>> 0, 13), PRIME1);
      v2 = mul(rotl((v2 + mul(u32(b, i + 4), PRIME2)) >>> 0, 13), PRIME1);
      v3 = mul(rotl((v3 + mul(u32(b, i + 8), PRIME2)) >>> 0, 13), PRIME1);
      v4 = mul(rotl((v4 + mul(u32(b, i + 12), PRIME2)) >>> 0, 13), PRIME1);
    }
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) >>> 0;
  } else {
    h = (seed + PRIME5) >>> 0;
  }
  h = (h + n) >>> 0;
  for (; i + 4 <= n; i += 4) h = mul(rotl((h + mul(u32(b, i), PRIME3)) >>> 0, 17), PRIME4);
  for (; i < n; i++) h = mul(rotl((h + mul(b[i], PRIME5)) >>> 0, 11), PRIME1);
  h = mul(h ^ (h >>> 15), PRIME2);
  h = mul(h ^ (h >>> 13), PRIME3);
  return (h ^ (h >>> 16)) >>> 0;
}

function decodeBlock(src, out) {
  let i = 0;
  while (i < src.length) {
    const token = src[i++];
    let lit = token >> 4;
    if (lit === 15) { let b; do { b = src[i++]; lit += b; } while (b === 255); }
    if (i + lit > src.length) throw new Error('lz4: literals past the end of the block');
    for (let k = 0; k < lit; k++) out.push(src[i + k]);
    i += lit;
    if (i >= src.length) break;  // the last sequence has literals only
    const offset = src[i] | (src[i + 1] << 8);
    i += 2;
    if (offset === 0 || offset > out.length) throw new Error('lz4: bad match offset');
    let len = token & 15;
    if (len === 15) { let b; do { b = src[i++]; len += b; } while (b === 255); }
    len += 4;
    const start = out.length - offset;
    for (let k = 0; k < len; k++) out.push(out[start + k]);
  }
}

/** Decodes one or more concatenated LZ4 frames. */
export function lz4FrameDecode(input) {
  const b = input instanceof Uint8Array ? input : new Uint8Array(input);
  const out = [];
  let i = 0;
  while (i < b.length) {
    if (u32(b, i) !== 0x184d2204) throw new Error('lz4: bad frame magic');
    i += 4;
    const flg = b[i], descStart = i;
    if ((flg >> 6) !== 1) throw new Error('lz4: unsupported frame version');
    const blockChecksum = (flg >> 4) & 1, contentSize = (flg >> 3) & 1;
    const contentChecksum = (flg >> 2) & 1, dictId = flg & 1;
    i += 2 + (contentSize ? 8 : 0) + (dictId ? 4 : 0);
    const hc = (xxh32(b.subarray(descStart, i)) >>> 8) & 0xff;
    if (hc !== b[i]) throw new Error('lz4: bad frame descriptor checksum');
    i += 1;
    for (;;) {
      const size = u32(b, i);
      i += 4;
      if (size === 0) break;
      const n = size & 0x7fffffff;
      const block = b.subarray(i, i + n);
      if (size & 0x80000000) { for (const x of block) out.push(x); } else decodeBlock(block, out);
      i += n + (blockChecksum ? 4 : 0);
    }
    if (contentChecksum) i += 4;
  }
  return Uint8Array.from(out);
}

function encodeBlock(src) {
  const n = src.length;
  const out = [];
  const table = new Map();
  const pushLength = (len) => { while (len >= 255) { out.push(255); len -= 255; } out.push(len); };
  const emit = (litStart, litEnd, offset, matchLen) => {
    const lit = litEnd - litStart;
    const ml = matchLen === null ? 0 : matchLen - 4;
    out.push(((lit >= 15 ? 15 : lit) << 4) | (matchLen === null ? 0 : (ml >= 15 ? 15 : ml)));
    if (lit >= 15) pushLength(lit - 15);
    for (let k = litStart; k < litEnd; k++) out.push(src[k]);
    if (matchLen === null) return;
    out.push(offset & 0xff, offset >> 8);
    if (ml >= 15) pushLength(ml - 15);
  };
  // The format wants the last 5 bytes as literals and no match starting in the last 12.
  const matchLimit = n - 5, startLimit = n - 12;
  let anchor = 0, i = 0;
  while (i < startLimit) {
    const key = u32(src, i);
    const cand = table.get(key);
    table.set(key, i);
    if (cand !== undefined && i - cand <= 65535 && u32(src, cand) === key) {
      let len = 4;
      while (i + len < matchLimit && src[cand + len] === src[i + len]) len++;
      emit(anchor, i, i - cand, len);
      i += len;
      anchor = i;
    } else {
      i++;
    }
  }
  emit(anchor, n, 0, null);
  return out;
}

/** One LZ4 frame: compressed (or, when that does not help, stored) 4 MiB blocks. */
export function lz4FrameEncode(input) {
  const src = input instanceof Uint8Array ? input : new Uint8Array(input);
  const flg = 0x60;  // version 01, independent blocks, no checksums, no content size
  const bd = 0x70;   // 4 MiB maximum block size
  const out = [0x04, 0x22, 0x4d, 0x18, flg, bd, (xxh32(Uint8Array.of(flg, bd)) >>> 8) & 0xff];
  const put32 = (v) => out.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  for (let at = 0; at < src.length; at += 4 << 20) {
    const chunk = src.subarray(at, Math.min(src.length, at + (4 << 20)));
    const block = encodeBlock(chunk);
    if (block.length < chunk.length) {
      put32(block.length);
      for (const x of block) out.push(x);
    } else {
      put32((chunk.length | 0x80000000) >>> 0);
      for (const x of chunk) out.push(x);
    }
  }
  put32(0);
  return Uint8Array.from(out);
}
