// The canonical form that the interop test compares: every cell of an Arrow column as JSON
// whose leaves are strings (or null), decoded here from the raw buffers of apache-arrow's Data
// (never through its lossy getters), and the DuckDB SQL expression that renders the same cell
// in the same form from the value DuckDB holds.
//
// Leaves: integers of every width (HUGEINT/UHUGEINT too) as decimal text; booleans
// "true"/"false"; floats "f:" + a text that parses back to the exact double (the driver
// compares those numerically, bit for bit); decimals as DuckDB prints them (all scale digits);
// strings as themselves; binary as upper-case hex; UUID as its usual text; dates as days since
// 1970-01-01; times and timestamps as nanoseconds since midnight / the epoch; intervals and
// durations "months/days/nanoseconds"; TIME WITH TIME ZONE "microseconds|offset seconds";
// BIT as '0'/'1' text; BIGNUM as decimal text. Lists are arrays, structs objects, maps
// arrays of {key, value}, unions {member: value} (null when the value is null), dictionaries the decoded value.

export function extensionName(field) {
  return field.metadata.get('ARROW:extension:name') ?? null;
}

/** For DuckDB's arrow.opaque columns the DuckDB type name ("hugeint", "bit", ...), else null. */
export function opaqueTypeName(field) {
  if (extensionName(field) !== 'arrow.opaque') return null;
  try {
    return JSON.parse(field.metadata.get('ARROW:extension:metadata') ?? '{}').type_name ?? null;
  } catch {
    return null;
  }
}

function bit(bytes, j) { return (bytes[j >> 3] >> (j & 7)) & 1; }

function hex(bytes) {
  let s = '';
  for (const b of bytes) s += b.toString(16).toUpperCase().padStart(2, '0');
  return s;
}

/** Little-endian two's complement (or unsigned) integer of any width. */
function leInt(bytes, signed) {
  let v = 0n;
  for (let k = bytes.length - 1; k >= 0; k--) v = (v << 8n) | BigInt(bytes[k]);
  return signed ? BigInt.asIntN(bytes.length * 8, v) : v;
}

function formatFloat(v) {
  if (Number.isNaN(v)) return 'f:nan';
  if (v === Infinity) return 'f:inf';
  if (v === -Infinity) return 'f:-inf';
  if (Object.is(v, -0)) return 'f:-0.0';
  return 'f:' + String(v);
}

function halfToNumber(h) {
  const sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function formatDecimal(unscaled, scale) {
  const negative = unscaled < 0n;
  let digits = (negative ? -unscaled : unscaled).toString();
  if (scale > 0) {
    digits = digits.padStart(scale + 1, '0');
    digits = digits.slice(0, digits.length - scale) + '.' + digits.slice(digits.length - scale);
  }
  return (negative ? '-' : '') + digits;
}

function formatUuid(bytes) {
  const h = hex(bytes).toLowerCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** DuckDB's BIGNUM: 3 header bytes (sign bit, byte count), big-endian magnitude; negative
 * values have every byte inverted. */
function formatBignum(bytes) {
  const negative = (bytes[0] & 0x80) === 0;
  let v = 0n;
  for (let k = 3; k < bytes.length; k++) v = (v << 8n) | BigInt(negative ? bytes[k] ^ 0xff : bytes[k]);
  return (negative ? '-' : '') + v.toString();
}

/** DuckDB's BIT: one byte of padding count, then the bits, first byte's padding bits first. */
function formatBit(bytes) {
  let s = '';
  for (let k = 1; k < bytes.length; k++) s += bytes[k].toString(2).padStart(8, '0');
  return s.slice(bytes[0]);
}

/** DuckDB's TIME WITH TIME ZONE: micros << 24 | (57599 - offset seconds), little-endian. */
function formatTimeTz(bytes) {
  const bits = leInt(bytes, false);
  const micros = bits >> 24n, offset = 57599n - (bits & 0xffffffn);
  return `${micros}|${offset}`;
}

const TIME_UNIT_NS = [1000000000n, 1000000n, 1000n, 1n];  // SECOND, MILLISECOND, MICRO, NANO

function isValid(data, j) {
  const bitmap = data.nullBitmap;
  return !(bitmap && bitmap.length > 0 && data.nullCount !== 0 && !bit(bitmap, j));
}

function bytesAt(data, j) {
  const offsets = data.valueOffsets;
  const start = Number(offsets[j]), end = Number(offsets[j + 1]);
  return data.values.subarray(start, end);
}

/** The canonical value of row `i` (logical, before data.offset) of `data`, whose field is
 * `field` (for extension metadata). */
export function canonicalCell(data, i, field, A) {
  const type = data.type, j = data.offset + i, T = A.Type;
  if (type.typeId === T.Null) return null;
  if (type.typeId !== T.Union && !isValid(data, j)) return null;
  const ext = field ? extensionName(field) : null;
  const opaque = field ? opaqueTypeName(field) : null;
  switch (type.typeId) {
    case T.Bool:
      return bit(data.values, j) ? 'true' : 'false';
    case T.Int: {
      const v = data.values[j];
      if (ext === 'arrow.bool8') return v ? 'true' : 'false';
      return String(v);
    }
    case T.Float:
      return formatFloat(type.precision === A.Precision.HALF ? halfToNumber(data.values[j])
                                                              : data.values[j]);
    case T.Decimal: {
      const width = type.bitWidth / 8;
      const bytes = new Uint8Array(data.values.buffer, data.values.byteOffset + j * width, width);
      return formatDecimal(leInt(bytes, true), type.scale);
    }
    case T.Utf8:
    case T.LargeUtf8:
      return new TextDecoder('utf-8', { fatal: true }).decode(bytesAt(data, j));
    case T.Binary:
    case T.LargeBinary: {
      const bytes = bytesAt(data, j);
      if (opaque === 'bignum' || opaque === 'varint') return formatBignum(bytes);
      if (opaque === 'bit') return formatBit(bytes);
      return hex(bytes);
    }
    case T.FixedSizeBinary: {
      const w = type.byteWidth;
      const bytes = data.values.subarray(j * w, (j + 1) * w);
      if (ext === 'arrow.uuid') return formatUuid(bytes);
      if (opaque === 'hugeint') return leInt(bytes, true).toString();
      if (opaque === 'uhugeint') return leInt(bytes, false).toString();
      if (opaque === 'time_tz') return formatTimeTz(bytes);
      return hex(bytes);
    }
    case T.Date: {
      if (type.unit === A.DateUnit.DAY) return String(data.values[j]);
      const ms = BigInt(data.values[j]);
      return ms % 86400000n === 0n ? String(ms / 86400000n) : `ms:${ms}`;
    }
    case T.Time:
    case T.Timestamp:
      return String(BigInt(data.values[j]) * TIME_UNIT_NS[type.unit]);
    case T.Duration:
      return `0/0/${BigInt(data.values[j]) * TIME_UNIT_NS[type.unit]}`;
    case T.Interval: {
      const v = data.values;
      if (type.unit === A.IntervalUnit.YEAR_MONTH) return `${v[j]}/0/0`;
      if (type.unit === A.IntervalUnit.DAY_TIME) {
        return `0/${v[2 * j]}/${BigInt(v[2 * j + 1]) * 1000000n}`;
      }
      const nanos = BigInt.asIntN(64, (BigInt(v[4 * j + 3] >>> 0) << 32n) | BigInt(v[4 * j + 2] >>> 0));
      return `${v[4 * j]}/${v[4 * j + 1]}/${nanos}`;
    }
    case T.List: {
      const child = data.children[0], childField = type.children[0];
      const out = [];
      for (let k = Number(data.valueOffsets[j]); k < Number(data.valueOffsets[j + 1]); k++) {
        out.push(canonicalCell(child, k, childField, A));
      }
      return out;
    }
    case T.FixedSizeList: {
      const child = data.children[0], childField = type.children[0], n = type.listSize;
      const out = [];
      for (let k = j * n; k < (j + 1) * n; k++) out.push(canonicalCell(child, k, childField, A));
      return out;
    }
    case T.Struct: {
      const out = {};
      type.children.forEach((f, c) => { out[f.name] = canonicalCell(data.children[c], j, f, A); });
      return out;
    }
    case T.Map: {
      const entries = data.children[0], fields = type.children[0].type.children;
      const out = [];
      for (let k = data.valueOffsets[j]; k < data.valueOffsets[j + 1]; k++) {
        out.push({
          key: canonicalCell(entries.children[0], entries.offset + k, fields[0], A),
          value: canonicalCell(entries.children[1], entries.offset + k, fields[1], A),
        });
      }
      return out;
    }
    case T.Union: {
      // Arrow unions have no validity of their own: a NULL is a NULL member value.
      const c = type.typeIdToChildIndex[data.typeIds[j]];
      const row = type.mode === A.UnionMode.Dense ? data.valueOffsets[j] : j;
      const f = type.children[c];
      const value = canonicalCell(data.children[c], row, f, A);
      return value === null ? null : { [f.name]: value };
    }
    case T.Dictionary: {
      let index = Number(data.values[j]);
      for (const chunk of data.dictionary.data) {
        if (index < chunk.length) return canonicalCell(chunk, index, null, A);
        index -= chunk.length;
      }
      throw new Error(`dictionary index ${data.values[j]} out of range`);
    }
    default:
      throw new Error(`no canonical form for ${type}`);
  }
}

/** Every row of `table` as an array of canonical cells, one per field. */
export function canonicalRows(table, A) {
  const rows = [];
  for (const batch of table.batches) {
    for (let i = 0; i < batch.numRows; i++) {
      rows.push(table.schema.fields.map((f, c) => canonicalCell(batch.data.children[c], i, f, A)));
    }
  }
  return rows;
}

function quoteIdent(name) { return '"' + name.replaceAll('"', '""') + '"'; }
function quoteString(text) { return "'" + text.replaceAll("'", "''") + "'"; }

const NS_SQL = (e) => `CAST(epoch_ns(${e}) AS HUGEINT)`;
const US_SQL = (e) => `CAST(epoch_us(${e}) AS HUGEINT) * 1000`;
const TIMESTAMP_SQL = [
  (e) => `CAST(CAST(epoch(${e}) AS BIGINT) AS HUGEINT) * 1000000000`,
  (e) => `CAST(epoch_ms(${e}) AS HUGEINT) * 1000000`,
  US_SQL,
  NS_SQL,
];

/** DuckDB SQL that renders `expr` (a DuckDB value that came from or went to an Arrow column
 * of `type`, with `field` metadata) in the canonical form; `depth` names lambda variables. */
export function canonicalSql(type, field, expr, A, depth = 0) {
  const T = A.Type, e = expr;
  const ext = field ? extensionName(field) : null;
  const opaque = field ? opaqueTypeName(field) : null;
  const str = (x) => `CAST(${x} AS VARCHAR)`;
  switch (type.typeId) {
    case T.Null:
      return 'CAST(NULL AS VARCHAR)';
    case T.Bool:
    case T.Int:
    case T.Decimal:
    case T.Utf8:
    case T.LargeUtf8:
      return str(e);
    case T.Float:
      return `('f:' || ${str(`CAST(${e} AS DOUBLE)`)})`;
    case T.Binary:
    case T.LargeBinary:
      return opaque ? str(e) : `hex(${e})`;
    case T.FixedSizeBinary:
      if (ext === 'arrow.uuid' || opaque === 'hugeint' || opaque === 'uhugeint') return str(e);
      if (opaque === 'time_tz') {
        return `(${str(`epoch_us(CAST(${e} AS TIME))`)} || '|' || ${str(`extract('timezone' FROM ${e})`)})`;
      }
      return `hex(${e})`;
    case T.Date:
      return str(`(${e} - DATE '1970-01-01')`);
    case T.Time:
      return type.unit === A.TimeUnit.NANOSECOND ? str(NS_SQL(e)) : str(US_SQL(e));
    case T.Timestamp: {
      // epoch_*() of DuckDB's infinities is NULL; their storage is +-(2^63 - 1).
      const finite = type.timezone ? US_SQL(e) : TIMESTAMP_SQL[type.unit](e);
      const infinite = `CASE WHEN ${e} > '1970-01-01' THEN 9223372036854775807 ELSE -9223372036854775807 END`;
      return str(`CASE WHEN isinf(${e}) THEN CAST(${infinite} AS HUGEINT) * ${TIME_UNIT_NS[type.unit]} ` +
                 `ELSE ${finite} END`);
    }
    case T.Duration:
    case T.Interval:
      return `(${str(`datepart('year', ${e}) * 12 + datepart('month', ${e})`)} || '/' || ` +
             `${str(`datepart('day', ${e})`)} || '/' || ` +
             `${str(`(CAST(datepart('hour', ${e}) AS HUGEINT) * 3600000000 + ` +
                    `datepart('minute', ${e}) * 60000000 + datepart('microseconds', ${e})) * 1000`)})`;
    case T.List:
    case T.FixedSizeList: {
      const x = `x${depth}`;
      const child = type.children[0];
      return `list_transform(${e}, ${x} -> ${canonicalSql(child.type, child, x, A, depth + 1)})`;
    }
    case T.Struct: {
      const members = type.children.map(
          (f) => `${quoteIdent(f.name)} := ` +
                 canonicalSql(f.type, f, `struct_extract(${e}, ${quoteString(f.name)})`, A, depth + 1));
      return `CASE WHEN ${e} IS NULL THEN NULL ELSE struct_pack(${members.join(', ')}) END`;
    }
    case T.Map: {
      const x = `x${depth}`;
      const [k, v] = type.children[0].type.children;
      return `list_transform(map_entries(${e}), ${x} -> struct_pack(` +
             `"key" := ${canonicalSql(k.type, k, `${x}.key`, A, depth + 1)}, ` +
             `"value" := ${canonicalSql(v.type, v, `${x}.value`, A, depth + 1)}))`;
    }
    case T.Union: {
      const arms = type.children.map((f) => {
        const member = `union_extract(${e}, ${quoteString(f.name)})`;
        return `WHEN union_tag(${e}) = ${quoteString(f.name)} AND ${member} IS NOT NULL THEN json_object(` +
               `${quoteString(f.name)}, to_json(${canonicalSql(f.type, f, member, A, depth + 1)}))`;
      });
      return `CASE WHEN ${e} IS NULL THEN NULL ${arms.join(' ')} END`;
    }
    case T.Dictionary:
      return canonicalSql(type.dictionary, null, e, A, depth);
    default:
      throw new Error(`no canonical SQL for ${type}`);
  }
}

/** The whole cell as JSON text (VARCHAR), NULL for a NULL cell. */
export function canonicalCellSql(field, A) {
  return `CAST(to_json(${canonicalSql(field.type, field, quoteIdent(field.name), A)}) AS VARCHAR)`;
}
