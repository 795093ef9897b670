/**
 * Reader and writer for the safetensors format of Hugging Face
 * (https://github.com/huggingface/safetensors): an 8-byte little-endian header length N,
 * N bytes of JSON header, then the tensor bytes, little-endian and row-major.
 */
import { open } from 'node:fs/promises';
import { endianness } from 'node:os';

import { FtError } from '../errors.js';
import { shapeSize, type NamedArray, type NamedArrays } from '../tensors/named-arrays.js';
import { writeFileAtomic } from '../io/atomic-write.js';

/** Tensors and the string metadata (`__metadata__`) of one safetensors file. */
export interface SafetensorsContents {
  readonly tensors: NamedArrays;
  readonly metadata: Record<string, string>;
}

/** Element size in bytes of every dtype the format defines; the reader converts only some of them. */
const DTYPE_BYTES: Record<string, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

const READABLE_DTYPES = ['F32', 'F16', 'BF16', 'I64', 'I32', 'I8', 'U8', 'BOOL'];

/** The reference Rust implementation (MAX_HEADER_SIZE) rejects headers above 100 MB, so a corrupt length fails fast. */
const MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = '__metadata__';

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

interface TensorEntry {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

interface ParsedHeader {
  readonly entries: readonly TensorEntry[];
  readonly metadata: Record<string, string>;
}

/**
 * Parses a complete safetensors file held in memory. Tensors are copied out of `buffer`.
 * F16 and BF16 become float32; I64, I8, U8 and BOOL become int32.
 * `source` names the file in error messages.
 */
export function parseSafetensors(buffer: Uint8Array, source = '<buffer>'): SafetensorsContents {
  if (buffer.byteLength < 8) {
    throw new FtError('CHECKPOINT_INVALID', `${source}: invalid safetensors file, it has ${buffer.byteLength} bytes but the header length alone takes 8.`);
  }

  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const headerLength = checkHeaderLength(view.getBigUint64(0, true), buffer.byteLength, source);
  const dataStart = 8 + headerLength;
  const header = parseHeader(buffer.subarray(8, dataStart), buffer.byteLength - dataStart, source);

  const tensors: NamedArrays = {};
  for (const entry of header.entries) {
    // Copy into a fresh buffer: typed array views need aligned offsets, and the result must not alias `buffer`.
    const bytes = new Uint8Array(entry.end - entry.begin);
    bytes.set(buffer.subarray(dataStart + entry.begin, dataStart + entry.end));
    tensors[entry.name] = decodeTensor(entry, bytes, source);
  }
  return { tensors, metadata: header.metadata };
}

/**
 * Reads the tensors of a safetensors file, converting them as `parseSafetensors` does.
 * Each tensor is read on its own, so memory peaks at the decoded arrays rather than the file plus the arrays.
 */
export async function readSafetensors(path: string): Promise<NamedArrays> {
  return (await readSafetensorsWithMetadata(path)).tensors;
}

/** Reads the tensors and the `__metadata__` strings of a safetensors file. */
export async function readSafetensorsWithMetadata(path: string): Promise<SafetensorsContents> {
  const handle = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') {
      throw new FtError('FILE_NOT_FOUND', `Safetensors file not found: ${path}`, { cause: error });
    }
    throw error;
  });
  try {
    const { size } = await handle.stat();
    if (size < 8) {
      throw new FtError('CHECKPOINT_INVALID', `${path}: invalid safetensors file, it has ${size} bytes but the header length alone takes 8.`);
    }

    const lengthBytes = await readExactly(handle, path, 0, 8);
    const headerLength = checkHeaderLength(new DataView(lengthBytes.buffer).getBigUint64(0, true), size, path);
    const dataStart = 8 + headerLength;
    const header = parseHeader(await readExactly(handle, path, 8, headerLength), size - dataStart, path);

    const tensors: NamedArrays = {};
    for (const entry of header.entries) {
      const bytes = await readExactly(handle, path, dataStart + entry.begin, entry.end - entry.begin);
      tensors[entry.name] = decodeTensor(entry, bytes, path);
    }
    return { tensors, metadata: header.metadata };
  } finally {
    await handle.close();
  }
}

/**
 * Serializes arrays to safetensors bytes: float32 as F32 and int32 as I32.
 * Tensors are laid out as the reference writer does (larger dtypes first, then by name),
 * so the same arrays always give the same bytes.
 */
export function serializeSafetensors(arrays: NamedArrays, metadata?: Record<string, string>): Uint8Array {
  const chunks = [...serializeChunks(arrays, metadata)];
  const output = new Uint8Array(chunks.reduce((total, chunk) => total + chunk.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    output.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return output;
}

/**
 * Writes arrays to a safetensors file atomically: the bytes go to a temporary file in the
 * same folder, which is fsynced and then renamed to `path`.
 */
export async function writeSafetensors(
  path: string,
  arrays: NamedArrays,
  metadata?: Record<string, string>,
): Promise<void> {
  // Validate and lay out before creating the temporary file, so bad input leaves nothing behind.
  const chunks = [...serializeChunks(arrays, metadata, path)];
  await writeFileAtomic(path, chunks);
}

function checkHeaderLength(length: bigint, fileSize: number, source: string): number {
  if (length > BigInt(MAX_HEADER_BYTES)) {
    throw new FtError('CHECKPOINT_INVALID', 
      `${source}: invalid safetensors file, its header length is ${length} bytes, above the ${MAX_HEADER_BYTES}-byte limit. The file is corrupt or not a safetensors file.`,
    );
  }
  const headerLength = Number(length);
  if (8 + headerLength > fileSize) {
    throw new FtError('CHECKPOINT_INVALID', 
      `${source}: invalid safetensors file, its header length is ${headerLength} bytes but the file has only ${fileSize} bytes. The file is truncated or not a safetensors file.`,
    );
  }
  return headerLength;
}

function parseHeader(headerBytes: Uint8Array, dataLength: number, source: string): ParsedHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw new FtError('CHECKPOINT_INVALID', `${source}: invalid safetensors header, it is not valid UTF-8.`);
  }

  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (error) {
    throw new FtError('CHECKPOINT_INVALID', `${source}: invalid safetensors header, it is not valid JSON (${(error as Error).message}).`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new FtError('CHECKPOINT_INVALID', `${source}: invalid safetensors header, expected a JSON object.`);
  }

  let metadata: Record<string, string> = {};
  const entries: TensorEntry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      metadata = parseMetadata(value, source);
    } else {
      entries.push(parseEntry(name, value, source));
    }
  }

  checkOffsets(entries, dataLength, source);
  return { entries, metadata };
}

function parseMetadata(value: unknown, source: string): Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new FtError('CHECKPOINT_INVALID', `${source}: invalid safetensors header, ${METADATA_KEY} must be an object of strings.`);
  }
  const metadata: Record<string, string> = {};
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== 'string') {
      throw new FtError('CHECKPOINT_INVALID', `${source}: invalid safetensors header, ${METADATA_KEY}.${key} is ${JSON.stringify(item)} but must be a string.`);
    }
    metadata[key] = item;
  }
  return metadata;
}

function parseEntry(name: string, value: unknown, source: string): TensorEntry {
  const where = `${source}: tensor "${name}"`;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new FtError('CHECKPOINT_INVALID', `${where}: invalid header entry, expected an object with dtype, shape and data_offsets.`);
  }
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;

  if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) {
    throw new FtError('CHECKPOINT_INVALID', `${where}: unknown dtype ${JSON.stringify(dtype)}. Known dtypes: ${Object.keys(DTYPE_BYTES).join(', ')}.`);
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeSafeInteger)) {
    throw new FtError('CHECKPOINT_INVALID', `${where}: invalid shape ${JSON.stringify(shape)}, expected an array of non-negative integers.`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeSafeInteger)) {
    throw new FtError('CHECKPOINT_INVALID', `${where}: invalid data_offsets ${JSON.stringify(offsets)}, expected [begin, end] with non-negative integers.`);
  }

  const [begin, end] = offsets as [number, number];
  if (end < begin) {
    throw new FtError('CHECKPOINT_INVALID', `${where}: invalid data_offsets [${begin}, ${end}], the end is before the begin.`);
  }
  const expectedBytes = shapeSize(shape) * (DTYPE_BYTES[dtype] as number);
  if (end - begin !== expectedBytes) {
    throw new FtError('CHECKPOINT_INVALID', 
      `${where}: data_offsets [${begin}, ${end}] cover ${end - begin} bytes but dtype ${dtype} with shape [${shape.join(', ')}] needs ${expectedBytes}.`,
    );
  }
  return { name, dtype, shape, begin, end };
}

/** Requires the tensors to tile the data section exactly, as the reference reader does: no overlaps, holes or bytes past the end. */
function checkOffsets(entries: readonly TensorEntry[], dataLength: number, source: string): void {
  const ordered = [...entries].sort((left, right) => left.begin - right.begin || left.end - right.end);
  let expectedBegin = 0;
  let previous: TensorEntry | undefined;
  for (const entry of ordered) {
    if (entry.end > dataLength) {
      throw new FtError('CHECKPOINT_INVALID', 
        `${source}: tensor "${entry.name}" has data_offsets [${entry.begin}, ${entry.end}] past the end of the data section (${dataLength} bytes). The file is truncated or corrupt.`,
      );
    }
    if (entry.begin < expectedBegin) {
      throw new FtError('CHECKPOINT_INVALID', 
        `${source}: tensor "${entry.name}" (data_offsets [${entry.begin}, ${entry.end}]) overlaps tensor "${previous?.name}" (data_offsets [${previous?.begin}, ${previous?.end}]).`,
      );
    }
    if (entry.begin > expectedBegin) {
      throw new FtError('CHECKPOINT_INVALID', 
        `${source}: bytes ${expectedBegin} to ${entry.begin} of the data section belong to no tensor (hole before tensor "${entry.name}"). The file is corrupt.`,
      );
    }
    expectedBegin = entry.end;
    previous = entry;
  }
  if (expectedBegin !== dataLength) {
    throw new FtError('CHECKPOINT_INVALID', 
      `${source}: the data section has ${dataLength} bytes but the tensors cover only ${expectedBegin}. The file is corrupt.`,
    );
  }
}

function decodeTensor(entry: TensorEntry, bytes: Uint8Array, source: string): NamedArray {
  const shape = [...entry.shape];
  const count = shapeSize(shape);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  switch (entry.dtype) {
    case 'F32':
      return { dtype: 'float32', shape, data: decodeFloat32(bytes, view, count) };
    case 'F16':
      return { dtype: 'float32', shape, data: decodeFloat16(view, count) };
    case 'BF16':
      return { dtype: 'float32', shape, data: decodeBFloat16(view, count) };
    case 'I32':
      return { dtype: 'int32', shape, data: decodeInt32(bytes, view, count) };
    case 'I64':
      return { dtype: 'int32', shape, data: decodeInt64(view, count, entry, source) };
    case 'I8':
      return { dtype: 'int32', shape, data: Int32Array.from(new Int8Array(bytes.buffer, bytes.byteOffset, count)) };
    case 'U8':
    case 'BOOL':
      return { dtype: 'int32', shape, data: Int32Array.from(bytes) };
    default:
      throw new FtError('UNSUPPORTED', 
        `${source}: tensor "${entry.name}" has dtype ${entry.dtype}, which ft does not read. Supported dtypes: ${READABLE_DTYPES.join(', ')}. Convert the tensor, for example to F32, before saving.`,
      );
  }
}

/** Views `bytes` without copying when they start their own buffer on a little-endian host, and reads them one by one otherwise. */
function decodeFloat32(bytes: Uint8Array, view: DataView, count: number): Float32Array {
  if (LITTLE_ENDIAN_HOST && bytes.byteOffset === 0) {
    return new Float32Array(bytes.buffer, 0, count);
  }
  const data = new Float32Array(count);
  for (let index = 0; index < count; index++) {
    data[index] = view.getFloat32(index * 4, true);
  }
  return data;
}

function decodeInt32(bytes: Uint8Array, view: DataView, count: number): Int32Array {
  if (LITTLE_ENDIAN_HOST && bytes.byteOffset === 0) {
    return new Int32Array(bytes.buffer, 0, count);
  }
  const data = new Int32Array(count);
  for (let index = 0; index < count; index++) {
    data[index] = view.getInt32(index * 4, true);
  }
  return data;
}

let float16Table: Float32Array | undefined;

/** Returns the float32 value of every IEEE 754 half-precision bit pattern, built on first use (256 KiB). */
function getFloat16Table(): Float32Array {
  if (float16Table === undefined) {
    float16Table = new Float32Array(65536);
    for (let bits = 0; bits < 65536; bits++) {
      const sign = bits & 0x8000 ? -1 : 1;
      const exponent = (bits >> 10) & 0x1f;
      const fraction = bits & 0x3ff;
      if (exponent === 0) {
        float16Table[bits] = sign * fraction * 2 ** -24;
      } else if (exponent === 0x1f) {
        float16Table[bits] = fraction === 0 ? sign * Infinity : NaN;
      } else {
        float16Table[bits] = sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
      }
    }
  }
  return float16Table;
}

function decodeFloat16(view: DataView, count: number): Float32Array {
  const table = getFloat16Table();
  const data = new Float32Array(count);
  for (let index = 0; index < count; index++) {
    data[index] = table[view.getUint16(index * 2, true)] as number;
  }
  return data;
}

/** Decodes bfloat16 values exactly: a bfloat16 is the upper 16 bits of a float32. */
function decodeBFloat16(view: DataView, count: number): Float32Array {
  const bits = new Uint32Array(count);
  for (let index = 0; index < count; index++) {
    bits[index] = view.getUint16(index * 2, true) << 16;
  }
  return new Float32Array(bits.buffer);
}

function decodeInt64(view: DataView, count: number, entry: TensorEntry, source: string): Int32Array {
  const data = new Int32Array(count);
  for (let index = 0; index < count; index++) {
    const low = view.getInt32(index * 8, true);
    const high = view.getInt32(index * 8 + 4, true);

    // The value fits in int32 exactly when the high word is the sign extension of the low word.
    if (high !== (low < 0 ? -1 : 0)) {
      const value = view.getBigInt64(index * 8, true);
      throw new FtError('CHECKPOINT_INVALID', 
        `${source}: tensor "${entry.name}" (I64) has value ${value} at flat index ${index}, outside the int32 range ft converts I64 to.`,
      );
    }
    data[index] = low;
  }
  return data;
}

async function readExactly(
  handle: Awaited<ReturnType<typeof open>>,
  path: string,
  position: number,
  length: number,
): Promise<Uint8Array> {
  const bytes = new Uint8Array(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(bytes, filled, length - filled, position + filled);
    if (bytesRead === 0) {
      throw new FtError('CHECKPOINT_INVALID', `${path}: unexpected end of file while reading ${length} bytes at offset ${position}; the file changed while it was read.`);
    }
    filled += bytesRead;
  }
  return bytes;
}

/** Returns the header then each tensor's little-endian bytes, validating every array first. */
function* serializeChunks(
  arrays: NamedArrays,
  metadata: Record<string, string> | undefined,
  destination = 'serializeSafetensors',
): Generator<Uint8Array> {
  const names = Object.keys(arrays);
  for (const name of names) {
    validateArray(name, arrays[name] as NamedArray, destination);
  }
  if (metadata !== undefined) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') {
        throw new Error(`${destination}: metadata key "${key}" is ${JSON.stringify(value)} but safetensors metadata values must be strings.`);
      }
    }
  }

  const ordered = names.sort(compareForLayout(arrays));
  const headerParts: string[] = [];
  if (metadata !== undefined) {
    const metadataParts = Object.keys(metadata)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${JSON.stringify(metadata[key])}`);
    headerParts.push(`${JSON.stringify(METADATA_KEY)}:{${metadataParts.join(',')}}`);
  }

  // Building the JSON by hand keeps the layout order: JSON.stringify would move integer-like names first.
  let offset = 0;
  for (const name of ordered) {
    const array = arrays[name] as NamedArray;
    const end = offset + array.data.byteLength;
    const info = { dtype: array.dtype === 'float32' ? 'F32' : 'I32', shape: array.shape, data_offsets: [offset, end] };
    headerParts.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
    offset = end;
  }

  yield encodeHeader(`{${headerParts.join(',')}}`);
  for (const name of ordered) {
    yield littleEndianBytes(arrays[name] as NamedArray);
  }
}

/** Checks arrays at run time too, because callers in JavaScript or with casts can pass anything. */
function validateArray(name: string, array: NamedArray, destination: string): void {
  if (name === METADATA_KEY) {
    throw new Error(`${destination}: "${METADATA_KEY}" is reserved by the safetensors format and cannot name a tensor.`);
  }

  const { dtype, shape, data } = array as { dtype: unknown; shape: readonly number[]; data: unknown };
  let expectedType: Float32ArrayConstructor | Int32ArrayConstructor;
  if (dtype === 'float32') {
    expectedType = Float32Array;
  } else if (dtype === 'int32') {
    expectedType = Int32Array;
  } else {
    throw new Error(`${destination}: tensor "${name}" has dtype ${String(dtype)}; only float32 and int32 are written.`);
  }
  if (!(data instanceof expectedType)) {
    const actualType = data === null || data === undefined ? String(data) : (data as object).constructor.name;
    throw new Error(`${destination}: tensor "${name}" has dtype ${dtype} but its data is a ${actualType}.`);
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeSafeInteger)) {
    throw new Error(`${destination}: tensor "${name}" has invalid shape ${JSON.stringify(shape)}; dimensions must be non-negative integers.`);
  }
  if (data.length !== shapeSize(shape)) {
    throw new Error(
      `${destination}: tensor "${name}" has ${data.length} elements but shape [${shape.join(', ')}] needs ${shapeSize(shape)}.`,
    );
  }
}

/**
 * Orders tensors like the reference Rust writer: by dtype, larger rank first (F32 before I32),
 * then by name compared as UTF-8 bytes.
 */
function compareForLayout(arrays: NamedArrays): (left: string, right: string) => number {
  const dtypeRank = { float32: 1, int32: 0 };
  return (left, right) => {
    const rankDifference = dtypeRank[(arrays[right] as NamedArray).dtype] - dtypeRank[(arrays[left] as NamedArray).dtype];
    return rankDifference !== 0 ? rankDifference : Buffer.compare(Buffer.from(left, 'utf8'), Buffer.from(right, 'utf8'));
  };
}

/** Prefixes the JSON with its length and pads it with spaces to a multiple of 8 bytes, as the reference writer does. */
function encodeHeader(json: string): Uint8Array {
  const jsonBytes = Buffer.from(json, 'utf8');
  const padding = (8 - (jsonBytes.byteLength % 8)) % 8;
  const output = new Uint8Array(8 + jsonBytes.byteLength + padding);
  new DataView(output.buffer).setBigUint64(0, BigInt(jsonBytes.byteLength + padding), true);
  output.set(jsonBytes, 8);
  output.fill(0x20, 8 + jsonBytes.byteLength);
  return output;
}

function littleEndianBytes(array: NamedArray): Uint8Array {
  const { data } = array;
  if (LITTLE_ENDIAN_HOST) {
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  const output = new Uint8Array(data.byteLength);
  const view = new DataView(output.buffer);
  for (let index = 0; index < data.length; index++) {
    if (array.dtype === 'float32') {
      view.setFloat32(index * 4, array.data[index] as number, true);
    } else {
      view.setInt32(index * 4, array.data[index] as number, true);
    }
  }
  return output;
}

function isNonNegativeSafeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
