// The JavaScript half of the dux <-> apache-arrow interop test (driven by interop_test.cc).
//
//   node arrow_interop.mjs canon FILE...   reads IPC streams or files (compressed too) and
//                                          prints, per file, its fields (Arrow type, DuckDB
//                                          SQL for the canonical form) and canonical rows
//   node arrow_interop.mjs tables          prints the names of the tables below
//   node arrow_interop.mjs write DIR [T]   writes the tables below as streams and files,
//                                          uncompressed, LZ4 and ZSTD, reads each back and
//                                          prints a manifest: files, fields, expected DuckDB
//                                          types and the canonical rows it wrote (all
//                                          tables, or table T)
//
// apache-arrow is loaded from $ARROW_JS_NODE_MODULES; there is no other dependency.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

import { canonicalCellSql, canonicalRows, extensionName, opaqueTypeName } from './canonical.mjs';
import { lz4FrameDecode, lz4FrameEncode } from './lz4_frame.mjs';
import { zstdFrameDecode, zstdFrameEncode } from './zstd_frame.mjs';

const modules = process.env.ARROW_JS_NODE_MODULES;
if (!modules) throw new Error('ARROW_JS_NODE_MODULES is not set');
const A = createRequire(path.join(modules, 'noop.js'))('apache-arrow');

// apache-arrow reads and writes IPC body compression but ships no codec: register ours.
A.compressionRegistry.set(A.CompressionType.LZ4_FRAME, { encode: lz4FrameEncode, decode: lz4FrameDecode });
A.compressionRegistry.set(A.CompressionType.ZSTD, { encode: zstdFrameEncode, decode: zstdFrameDecode });

// apache-arrow 21.1.0 writes the *compressed* length into the 8-byte prefix of each compressed
// body buffer; the format wants the uncompressed length (or -1 for a stored buffer), and
// readers that size their output from it (dux, Arrow C++) reject the data. Fixed upstream in
// apache/arrow-js#470 ("fix(ipc): body prefix must be uncompressed length"). Until the pin
// moves past it, correct the prefixes after apache-arrow's own compression step.
const compressBodyBuffers = A.RecordBatchWriter.prototype._compressBodyBuffers;
if (typeof compressBodyBuffers !== 'function') throw new Error('apache-arrow internals changed');
A.RecordBatchWriter.prototype._compressBodyBuffers = function (buffers) {
  const result = compressBodyBuffers.call(this, buffers);
  buffers.forEach((buffer, k) => {
    const prefix = result.buffers[2 * k];
    if (prefix.byteLength !== 8) return;  // an empty buffer has no prefix
    const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
    if (view.getBigInt64(0, true) !== -1n) view.setBigInt64(0, BigInt(buffer.byteLength), true);
  });
  return result;
};

const COMPRESSIONS = { none: null, lz4: A.CompressionType.LZ4_FRAME, zstd: A.CompressionType.ZSTD };

function describeFields(schema) {
  return schema.fields.map((f) => ({
    name: f.name,
    type: String(f.type),
    extension: extensionName(f),
    opaque: opaqueTypeName(f),
    nullable: f.nullable,
    sql: canonicalCellSql(f, A),
  }));
}

function canon(files) {
  const out = [];
  for (const file of files) {
    const table = A.tableFromIPC(fs.readFileSync(file));
    out.push({
      file,
      batches: table.batches.length,
      fields: describeFields(table.schema),
      rows: canonicalRows(table, A),
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Tables written by JS. Each column: [field, data, expected DuckDB type after from_arrow].

function bitmap(valid) {
  const bytes = new Uint8Array(Math.max(1, Math.ceil(valid.length / 8)));
  valid.forEach((v, i) => { if (v) bytes[i >> 3] |= 1 << (i & 7); });
  return bytes;
}

/** Data for a fixed-width or binary type from raw storage; `valid` marks non-null rows. */
function raw(type, valid, props) {
  const nullCount = valid.filter((v) => !v).length;
  return A.makeData({ type, length: valid.length, nullCount, nullBitmap: nullCount ? bitmap(valid) : null, ...props });
}

/** A column from plain JS values (null for NULL) through apache-arrow's own builders. */
function built(type, values) { return A.vectorFromArray(values, type).data[0]; }

const field = (name, type, nullable = true, metadata) => new A.Field(name, type, nullable, metadata);

function fixedWords(words, valid, type) {  // integers stored as 32-bit words (decimals, intervals)
  return raw(type, valid, { data: Uint32Array.from(words.map((w) => w >>> 0)) });
}

/** 32-bit little-endian words of a signed integer `bits` wide. */
function words(v, bits) {
  const out = [];
  let u = BigInt.asUintN(bits, BigInt(v));
  for (let k = 0; k < bits / 32; k++) { out.push(Number(u & 0xffffffffn)); u >>= 32n; }
  return out;
}

function decimalColumn(precision, scale, bits, values) {
  const type = new A.Decimal(scale, precision, bits);
  const valid = values.map((v) => v !== null);
  return raw(type, valid, { data: Uint32Array.from(values.flatMap((v) => words(v ?? 0n, bits))) });
}

const I64_MIN = -(2n ** 63n), I64_MAX = 2n ** 63n - 1n;

function tables() {
  const T = {};
  const rowsOf = (n) => built(new A.Int32(), Array.from({ length: n }, (_, i) => i));
  const add = (name, columns, n, knownIssue = null) => {
    T[name] = { columns: [[field('_row', new A.Int32(), false), rowsOf(n), 'INTEGER'], ...columns], knownIssue };
  };

  add('ints', [
    [field('i8', new A.Int8()), built(new A.Int8(), [-128, 127, 0, -1, null]), 'TINYINT'],
    [field('i16', new A.Int16()), built(new A.Int16(), [-32768, 32767, 0, -1, null]), 'SMALLINT'],
    [field('i32', new A.Int32()), built(new A.Int32(), [-2147483648, 2147483647, 0, -1, null]), 'INTEGER'],
    [field('i64', new A.Int64()), built(new A.Int64(), [I64_MIN, I64_MAX, 0n, -1n, null]), 'BIGINT'],
    [field('u8', new A.Uint8()), built(new A.Uint8(), [0, 255, 1, 128, null]), 'UTINYINT'],
    [field('u16', new A.Uint16()), built(new A.Uint16(), [0, 65535, 1, 32768, null]), 'USMALLINT'],
    [field('u32', new A.Uint32()), built(new A.Uint32(), [0, 4294967295, 1, 2147483648, null]), 'UINTEGER'],
    [field('u64', new A.Uint64()), built(new A.Uint64(), [0n, 2n ** 64n - 1n, 1n, 2n ** 63n, null]), 'UBIGINT'],
    [field('b', new A.Bool()), built(new A.Bool(), [false, true, true, false, null]), 'BOOLEAN'],
  ], 5);

  add('floats', [
    [field('f32', new A.Float32()),
     built(new A.Float32(), [-3.4028234663852886e38, 3.4028234663852886e38, 1.401298464324817e-45, -0, NaN, Infinity, null]),
     'FLOAT'],
    [field('f64', new A.Float64()),
     built(new A.Float64(), [-1.7976931348623157e308, 1.7976931348623157e308, 5e-324, -0, NaN, -Infinity, null]),
     'DOUBLE'],
  ], 7);

  // Known issues pin what DuckDB 1.4.4 does today; the test fails once they are fixed.
  const REFUSED = 'DuckDB 1.4.4 refuses the type in its Arrow scan (duckdb_arrow_scan fails)';
  add('float16', [
    [field('f16', new A.Float16()),
     raw(new A.Float16(), [true, true, true, true, false], { data: Uint16Array.of(0xfbff, 0x7bff, 0x0001, 0x8000, 0) }),
     'FLOAT'],
  ], 5, REFUSED);

  const strings = ['', 'ü🦆 ünïcødé', 'a"b\\c\n\t\'', 'goo\u0000se', null];
  const enc = (s) => (s === null ? null : new TextEncoder().encode(s));
  add('strings', [
    [field('utf8', new A.Utf8()), built(new A.Utf8(), strings), 'VARCHAR'],
    [field('large_utf8', new A.LargeUtf8()), built(new A.LargeUtf8(), strings), 'VARCHAR'],
    [field('bin', new A.Binary()), built(new A.Binary(), [Uint8Array.of(), Uint8Array.of(0, 255, 128), enc('abc'), Uint8Array.of(0), null]), 'BLOB'],
    [field('large_bin', new A.LargeBinary()), built(new A.LargeBinary(), [Uint8Array.of(), Uint8Array.of(0, 255, 128), enc('abc'), Uint8Array.of(0), null]), 'BLOB'],
    [field('fsb3', new A.FixedSizeBinary(3)),
     raw(new A.FixedSizeBinary(3), [true, true, true, true, false], { data: Uint8Array.of(0, 0, 0, 255, 255, 255, 97, 98, 99, 1, 0, 2, 0, 0, 0) }),
     'BLOB'],
  ], 5);

  add('uuid', [
    [field('id', new A.FixedSizeBinary(16), true, new Map([['ARROW:extension:name', 'arrow.uuid'], ['ARROW:extension:metadata', '']])),
     raw(new A.FixedSizeBinary(16), [true, true, true, false], {
       data: Uint8Array.from([...new Array(16).fill(0), ...new Array(16).fill(255),
         0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x0f, 0xed, 0xcb, 0xa9, 0x87, 0x65, 0x43, 0x21,
         ...new Array(16).fill(0)]),
     }),
     'UUID'],
  ], 4);

  add('decimals', [
    [field('d4_1', new A.Decimal(1, 4, 128)), decimalColumn(4, 1, 128, [-9999n, 9999n, 5n, 0n, null]), 'DECIMAL(4,1)'],
    [field('d18_0', new A.Decimal(0, 18, 128)), decimalColumn(18, 0, 128, [-(10n ** 18n - 1n), 10n ** 18n - 1n, 1n, 0n, null]), 'DECIMAL(18,0)'],
    [field('d38_10', new A.Decimal(10, 38, 128)), decimalColumn(38, 10, 128, [-(10n ** 38n - 1n), 10n ** 38n - 1n, -1n, 0n, null]), 'DECIMAL(38,10)'],
  ], 5);
  add('decimal32', [[field('d9_2', new A.Decimal(2, 9, 32)), decimalColumn(9, 2, 32, [-999999999n, 999999999n, 1n, null]), 'DECIMAL(9,2)']], 4);
  add('decimal64', [[field('d18_4', new A.Decimal(4, 18, 64)), decimalColumn(18, 4, 64, [-(10n ** 18n - 1n), 10n ** 18n - 1n, 1n, null]), 'DECIMAL(18,4)']], 4);
  add('decimal256', [[field('d38_2', new A.Decimal(2, 38, 256)), decimalColumn(38, 2, 256, [-(10n ** 38n - 1n), 10n ** 38n - 1n, 1n, null]), 'DECIMAL(38,2)']], 4, REFUSED);

  const valid5 = [true, true, true, true, false];
  const i64 = (values) => BigInt64Array.from(values.map(BigInt));
  const i32 = (values) => Int32Array.from(values);
  add('temporal', [
    [field('date32', new A.DateDay()), raw(new A.DateDay(), valid5, { data: i32([-719528, 2932896, 0, 19000, 0]) }), 'DATE'],
    [field('date64', new A.DateMillisecond()),
     raw(new A.DateMillisecond(), valid5, { data: i64([-719528n * 86400000n, 2932896n * 86400000n, 0, 19000n * 86400000n, 0]) }), 'DATE'],
    [field('time_s', new A.TimeSecond()), raw(new A.TimeSecond(), valid5, { data: i32([0, 86399, 3600, 1, 0]) }), 'TIME'],
    [field('time_ms', new A.TimeMillisecond()), raw(new A.TimeMillisecond(), valid5, { data: i32([0, 86399999, 3600000, 1, 0]) }), 'TIME'],
    [field('time_us', new A.TimeMicrosecond()), raw(new A.TimeMicrosecond(), valid5, { data: i64([0, 86399999999n, 3600000000n, 1, 0]) }), 'TIME'],
    // DuckDB reads time64[ns] as TIME (microseconds): nanoseconds below a microsecond are cut.
    [field('time_ns', new A.TimeNanosecond()), raw(new A.TimeNanosecond(), valid5, { data: i64([0, 86399999999000n, 3600000000000n, 1000, 0]) }), 'TIME'],
    [field('ts_s', new A.TimestampSecond()), raw(new A.TimestampSecond(), valid5, { data: i64([-62135596800n, 253402300799n, 0, -1, 0]) }), 'TIMESTAMP_S'],
    [field('ts_ms', new A.TimestampMillisecond()), raw(new A.TimestampMillisecond(), valid5, { data: i64([-62135596800000n, 253402300799999n, 0, -1, 0]) }), 'TIMESTAMP_MS'],
    [field('ts_us', new A.TimestampMicrosecond()), raw(new A.TimestampMicrosecond(), valid5, { data: i64([-62135596800000000n, 253402300799999999n, 0, -1, 0]) }), 'TIMESTAMP'],
    [field('ts_ns', new A.TimestampNanosecond()), raw(new A.TimestampNanosecond(), valid5, { data: i64([I64_MIN + 1n, I64_MAX - 1n, 0, -1, 0]) }), 'TIMESTAMP_NS'],
    [field('ts_us_utc', new A.TimestampMicrosecond('UTC')), raw(new A.TimestampMicrosecond('UTC'), valid5, { data: i64([-62135596800000000n, 253402300799999999n, 0, -1, 0]) }), 'TIMESTAMP WITH TIME ZONE'],
    [field('ts_ms_ny', new A.TimestampMillisecond('America/New_York')), raw(new A.TimestampMillisecond('America/New_York'), valid5, { data: i64([-62135596800000n, 253402300799999n, 0, -1, 0]) }), 'TIMESTAMP WITH TIME ZONE'],
    [field('ts_s_tz', new A.TimestampSecond('+01:00')), raw(new A.TimestampSecond('+01:00'), valid5, { data: i64([-62135596800n, 253402300799n, 0, -1, 0]) }), 'TIMESTAMP WITH TIME ZONE'],
  ], 5);

  add('intervals', [
    [field('dur_s', new A.DurationSecond()), raw(new A.DurationSecond(), valid5, { data: i64([-86400n * 365n * 1000n, 86400n * 365n * 1000n, 1, 0, 0]) }), 'INTERVAL'],
    [field('dur_ms', new A.DurationMillisecond()), raw(new A.DurationMillisecond(), valid5, { data: i64([-1500, 123456789012n, 1, 0, 0]) }), 'INTERVAL'],
    [field('dur_us', new A.DurationMicrosecond()), raw(new A.DurationMicrosecond(), valid5, { data: i64([I64_MIN + 1n, I64_MAX, 1, 0, 0]) }), 'INTERVAL'],
    [field('dur_ns', new A.DurationNanosecond()), raw(new A.DurationNanosecond(), valid5, { data: i64([-1000, 86400000000000n, 1000, 0, 0]) }), 'INTERVAL'],
    [field('iv_ym', new A.IntervalYearMonth()), raw(new A.IntervalYearMonth(), valid5, { data: i32([-2147483647, 2147483647, 14, 0, 0]) }), 'INTERVAL'],
    [field('iv_mdn', new A.IntervalMonthDayNano()),
     fixedWords([-1, -2, ...words(-3000n, 64), 999, 999, ...words(999999999000n, 64), 1, 1, ...words(1000n, 64), 0, 0, 0, 0, 0, 0, 0, 0],
                valid5, new A.IntervalMonthDayNano()),
     'INTERVAL'],
  ], 5);

  add('interval_day_time', [
    [field('iv_dt', new A.IntervalDayTime()), raw(new A.IntervalDayTime(), valid5, { data: i32([-5, -1500, 3, 86399999, 1, 0, 0, 1, 0, 0]) }), 'INTERVAL'],
  ], 5, 'DuckDB 1.4.4 reads interval[day_time] (tiD) as one int64 of milliseconds');

  const int32Item = () => field('item', new A.Int32());
  const listInt = new A.List(int32Item());
  const fsl = new A.FixedSizeList(2, field('item', new A.Int16()));
  const st = new A.Struct([field('a', new A.Int32()), field('b', new A.Utf8())]);
  const map = new A.Map_(field('entries', new A.Struct([field('key', new A.Utf8(), false), field('value', new A.Int32())]), false));
  const deep = new A.List(field('item', new A.Struct([field('x', new A.List(field('item', new A.Int64())))])));
  const deepStruct = new A.Struct([field('s', new A.Struct([field('l', new A.List(field('item', new A.Utf8())))]))]);
  const listOfMap = new A.List(field('item', new A.Map_(field('entries', new A.Struct([
    field('key', new A.Int32(), false), field('value', new A.List(field('item', new A.Float64())))]), false))));
  add('nested', [
    [field('list_i32', listInt), built(listInt, [[1, -2147483648], [], null, [null, 3], [2147483647]]), 'INTEGER[]'],
    [field('fsl_i16', fsl), built(fsl, [[1, 2], [null, -32768], null, [32767, 0], [0, 0]]), 'SMALLINT[2]'],
    [field('struct', st), built(st, [{ a: 1, b: 'x' }, { a: null, b: null }, null, { a: -1, b: '🦆' }, { a: 0, b: '' }]),
     'STRUCT(a INTEGER, b VARCHAR)'],
    [field('map', map), built(map, [new Map([['a', 1], ['b', null]]), new Map(), null, new Map([['ü', -1]]), new Map([['', 0]])]),
     'MAP(VARCHAR, INTEGER)'],
    [field('list_struct_list', deep),
     built(deep, [[{ x: [1n, null, I64_MAX] }, null, { x: [] }], [], null, [{ x: null }], [{ x: [I64_MIN] }]]),
     'STRUCT(x BIGINT[])[]'],
    [field('struct_struct_list', deepStruct),
     built(deepStruct, [{ s: { l: ['a', null, ''] } }, { s: null }, null, { s: { l: null } }, { s: { l: [] } }]),
     'STRUCT(s STRUCT(l VARCHAR[]))'],
    [field('list_map_list', listOfMap),
     built(listOfMap, [[new Map([[1, [1.5, null]], [2, []]])], [null], null, [new Map([[3, null]])], []]),
     'MAP(INTEGER, DOUBLE[])[]'],
  ], 5);

  const dict32 = new A.Dictionary(new A.Utf8(), new A.Int32());
  const dict8 = new A.Dictionary(new A.Utf8(), new A.Int8());
  add('dictionaries', [
    [field('d32', dict32), built(dict32, ['red', 'green', null, 'red', '🦆']), 'VARCHAR'],
    [field('d8', dict8), built(dict8, ['', null, 'x', 'x', 'y']), 'VARCHAR'],
  ], 5);

  add('null_type', [[field('n', new A.Null()), A.makeData({ type: new A.Null(), length: 3 }), 'INTEGER']], 3);

  const unionChildren = () => [field('i', new A.Int32()), field('s', new A.Utf8())];
  const sparse = new A.SparseUnion([0, 1], unionChildren());
  add('sparse_union', [[field('u', sparse), A.makeData({
    type: sparse, length: 4, nullCount: 0, typeIds: Int8Array.of(0, 1, 0, 1),
    children: [built(new A.Int32(), [7, null, -1, 0]), built(new A.Utf8(), ['', 'ü', null, 'x'])],
  }), 'UNION(i INTEGER, s VARCHAR)']], 4);
  const dense = new A.DenseUnion([0, 1], unionChildren());
  add('dense_union', [[field('u', dense), A.makeData({
    type: dense, length: 4, nullCount: 0, typeIds: Int8Array.of(1, 0, 0, 1), valueOffsets: Int32Array.of(0, 0, 1, 1),
    children: [built(new A.Int32(), [2147483647, -5]), built(new A.Utf8(), ['dense', ''])],
  }), 'UNION(i INTEGER, s VARCHAR)']], 4, REFUSED);

  T.empty = { columns: [
    [field('_row', new A.Int32(), false), built(new A.Int32(), []), 'INTEGER'],
    [field('i', new A.Int64()), built(new A.Int64(), []), 'BIGINT'],
    [field('s', new A.Utf8()), built(new A.Utf8(), []), 'VARCHAR'],
    [field('l', listInt), built(listInt, []), 'INTEGER[]'],
    [field('st', st), built(st, []), 'STRUCT(a INTEGER, b VARCHAR)'],
  ] };

  // Several batches, one of them empty; the dictionary is shared by all batches.
  const batchOf = (from, n) => {
    const schema = new A.Schema([field('_row', new A.Int32(), false), field('v', new A.Utf8())]);
    const data = A.makeData({
      type: new A.Struct(schema.fields), length: n, nullCount: 0,
      children: [built(new A.Int32(), Array.from({ length: n }, (_, i) => from + i)),
                 built(new A.Utf8(), Array.from({ length: n }, (_, i) => ((from + i) % 3 ? `v${from + i}` : null)))],
    });
    return new A.RecordBatch(schema, data);
  };
  T.multi_batch = {
    batches: [batchOf(0, 3), batchOf(3, 0), batchOf(3, 2500), batchOf(2503, 1)],
    duck: ['INTEGER', 'VARCHAR'],
  };
  return T;
}

function makeTableFromSpec(spec) {
  if (spec.batches) return new A.Table(spec.batches);
  const schema = new A.Schema(spec.columns.map(([f]) => f));
  const length = spec.columns[0][1].length;
  const data = A.makeData({ type: new A.Struct(schema.fields), length, nullCount: 0, children: spec.columns.map(([, d]) => d) });
  return new A.Table([new A.RecordBatch(schema, data)]);
}

/** The table names, or (with `only`) that one table. */
function write(dir, only) {
  fs.mkdirSync(dir, { recursive: true });
  const manifest = [];
  const problems = [];
  const all = tables();
  if (only !== undefined && !(only in all)) throw new Error(`no table ${only}`);
  for (const [name, spec] of Object.entries(all)) {
    if (only !== undefined && name !== only) continue;
    const table = makeTableFromSpec(spec);
    const rows = canonicalRows(table, A);
    const duck = spec.duck ?? spec.columns.map(([, , d]) => d);
    const files = [];
    for (const format of ['stream', 'file']) {
      for (const [compression, type] of Object.entries(COMPRESSIONS)) {
        const file = path.join(dir, `${name}.${format}.${compression}.arrow`);
        const writer = format === 'stream' ? A.RecordBatchStreamWriter : A.RecordBatchFileWriter;
        const bytes = writer.writeAll(table, { compressionType: type }).toUint8Array(true);
        fs.writeFileSync(file, bytes);
        // apache-arrow must read back what it wrote before dux is asked to.
        const again = JSON.stringify(canonicalRows(A.tableFromIPC(bytes), A));
        if (again !== JSON.stringify(rows)) problems.push(`${file}: apache-arrow reads back other values`);
        files.push({ path: file, format, compression });
      }
    }
    // tableToIPC is the entry point users call; its output must equal the writers' above.
    for (const format of ['stream', 'file']) {
      const bytes = A.tableToIPC(table, format);
      const file = path.join(dir, `${name}.${format}.none.arrow`);
      if (!Buffer.from(bytes).equals(fs.readFileSync(file))) problems.push(`${file}: tableToIPC differs`);
    }
    manifest.push({ table: name, files, fields: describeFields(table.schema), duck, rows, known_issue: spec.knownIssue ?? null });
  }
  return { manifest, problems };
}

const [command, ...args] = process.argv.slice(2);
if (command === 'canon') {
  process.stdout.write(JSON.stringify(canon(args)));
} else if (command === 'tables') {
  process.stdout.write(JSON.stringify(Object.keys(tables())));
} else if (command === 'write') {
  const { manifest, problems } = write(args[0], args[1]);
  if (problems.length) {
    process.stderr.write(problems.join('\n') + '\n');
    process.exit(1);
  }
  process.stdout.write(JSON.stringify(manifest));
} else {
  process.stderr.write('usage: arrow_interop.mjs canon FILE... | write DIR\n');
  process.exit(2);
}
