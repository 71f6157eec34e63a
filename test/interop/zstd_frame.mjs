// A minimal Zstandard frame codec (RFC 8878) in plain JavaScript. The encoder emits valid
// frames made of raw and RLE blocks only (runs become RLE blocks, so buffers with long runs
// do shrink); the decoder reads such frames and refuses compressed (Huffman/FSE) blocks.
// apache-arrow ships no codecs and Node has no zstd, so this is what lets the JS side write
// ZSTD-compressed IPC for dux to read; reading libzstd's output needs a full decoder.

const MAX_BLOCK = 128 << 10;
const MIN_RUN = 16;

/** One frame: single segment, 8-byte content size, no checksum. */
export function zstdFrameEncode(input) {
  const src = input instanceof Uint8Array ? input : new Uint8Array(input);
  const out = [0x28, 0xb5, 0x2f, 0xfd, 0xe0];  // magic; FHD: FCS 8 bytes, single segment
  let size = BigInt(src.length);
  for (let k = 0; k < 8; k++) { out.push(Number(size & 0xffn)); size >>= 8n; }
  const blocks = [];  // [type, start, end]
  let i = 0, rawStart = 0;
  while (i < src.length) {
    let j = i + 1;
    while (j < src.length && src[j] === src[i] && j - i < MAX_BLOCK) j++;
    if (j - i >= MIN_RUN) {
      for (let s = rawStart; s < i; s += MAX_BLOCK) blocks.push([0, s, Math.min(i, s + MAX_BLOCK)]);
      blocks.push([1, i, j]);
      rawStart = j;
    }
    i = j;
  }
  for (let s = rawStart; s < src.length; s += MAX_BLOCK) {
    blocks.push([0, s, Math.min(src.length, s + MAX_BLOCK)]);
  }
  if (blocks.length === 0) blocks.push([0, 0, 0]);
  blocks.forEach(([type, start, end], k) => {
    const header = ((end - start) << 3) | (type << 1) | (k === blocks.length - 1 ? 1 : 0);
    out.push(header & 0xff, (header >> 8) & 0xff, (header >> 16) & 0xff);
    if (type === 1) out.push(src[start]);
    else for (let p = start; p < end; p++) out.push(src[p]);
  });
  return Uint8Array.from(out);
}

/** Decodes frames made of raw and RLE blocks; throws on compressed blocks. */
export function zstdFrameDecode(input) {
  const b = input instanceof Uint8Array ? input : new Uint8Array(input);
  const out = [];
  let i = 0;
  while (i < b.length) {
    if (b[i] !== 0x28 || b[i + 1] !== 0xb5 || b[i + 2] !== 0x2f || b[i + 3] !== 0xfd) {
      throw new Error('zstd: bad frame magic');
    }
    i += 4;
    const fhd = b[i++];
    const fcsFlag = fhd >> 6, single = (fhd >> 5) & 1, checksum = (fhd >> 2) & 1;
    const dictBytes = [0, 1, 2, 4][fhd & 3];
    const fcsBytes = [single ? 1 : 0, 2, 4, 8][fcsFlag];
    i += (single ? 0 : 1) + dictBytes + fcsBytes;
    for (let last = 0; !last;) {
      const header = b[i] | (b[i + 1] << 8) | (b[i + 2] << 16);
      i += 3;
      last = header & 1;
      const type = (header >> 1) & 3, size = header >> 3;
      if (type === 0) { for (let k = 0; k < size; k++) out.push(b[i + k]); i += size; }
      else if (type === 1) { for (let k = 0; k < size; k++) out.push(b[i]); i += 1; }
      else throw new Error('zstd: compressed blocks are not supported by this minimal decoder');
    }
    if (checksum) i += 4;
  }
  return Uint8Array.from(out);
}
