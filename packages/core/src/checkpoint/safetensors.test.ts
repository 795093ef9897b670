import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { float32Array, int32Array, type NamedArrays } from '../tensors/named-arrays.js';
import {
  parseSafetensors,
  readSafetensors,
  readSafetensorsWithMetadata,
  serializeSafetensors,
  writeSafetensors,
} from './safetensors.js';

/**
 * Builds safetensors bytes from a header object and raw data, without the writer under test:
 * 8-byte little-endian length, the JSON, then the data.
 */
function buildFile(header: Record<string, unknown>, data: number[] | Uint8Array, headerLengthOverride?: number): Uint8Array {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const output = new Uint8Array(8 + json.length + data.length);
  new DataView(output.buffer).setBigUint64(0, BigInt(headerLengthOverride ?? json.length), true);
  output.set(json, 8);
  output.set(data, 8 + json.length);
  return output;
}

function bytesOfUint16(values: number[]): number[] {
  return values.flatMap((value) => [value & 0xff, value >> 8]);
}

function bytesOfUint32(values: number[]): number[] {
  return values.flatMap((value) => [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24]);
}

let folder: string;

beforeEach(async () => {
  folder = await mkdtemp(join(tmpdir(), 'ft-safetensors-'));
});

afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe('parseSafetensors on hand-built bytes', () => {
  // Bit patterns and their exact values in IEEE 754 half (F16), bfloat16 (BF16) and single (F32) precision.
  const float16Bits = [0x3c00, 0xc000, 0x3555, 0x7bff, 0x0001, 0x7c00, 0x8000];
  const float16Values = [1, -2, 0.333251953125, 65504, 2 ** -24, Infinity, -0];
  const bfloat16Bits = [0x3f80, 0x4049, 0xc2f7, 0x0000];
  const bfloat16Values = [1, 3.140625, -123.5, 0];
  const float32Bits = [0x3f800000, 0xbf000000, 0x40490fdb];
  const int64Values = [1n, -2n, 2147483647n, -2147483648n];

  function handBuiltFile(): Uint8Array {
    const float16 = bytesOfUint16(float16Bits);
    const bfloat16 = bytesOfUint16(bfloat16Bits);
    const float32 = bytesOfUint32(float32Bits);
    const int64 = int64Values.flatMap((value) => {
      const bytes = new Uint8Array(8);
      new DataView(bytes.buffer).setBigInt64(0, value, true);
      return [...bytes];
    });
    const int32 = bytesOfUint32([7, 0xffffffff]);
    const uint8 = [0, 200, 255];
    const bool = [1, 0];
    const int8 = [0x80, 0x7f];

    let offset = 0;
    const take = (length: number): [number, number] => [offset, (offset += length)];
    const header = {
      __metadata__: { format: 'pt', note: 'hand built' },
      half: { dtype: 'F16', shape: [7], data_offsets: take(float16.length) },
      brain: { dtype: 'BF16', shape: [2, 2], data_offsets: take(bfloat16.length) },
      single: { dtype: 'F32', shape: [3], data_offsets: take(float32.length) },
      long: { dtype: 'I64', shape: [4], data_offsets: take(int64.length) },
      int: { dtype: 'I32', shape: [2, 1], data_offsets: take(int32.length) },
      byte: { dtype: 'U8', shape: [3], data_offsets: take(uint8.length) },
      flag: { dtype: 'BOOL', shape: [2], data_offsets: take(bool.length) },
      small: { dtype: 'I8', shape: [2], data_offsets: take(int8.length) },
    };
    return buildFile(header, [...float16, ...bfloat16, ...float32, ...int64, ...int32, ...uint8, ...bool, ...int8]);
  }

  it('decodes F16 to float32', () => {
    const { tensors } = parseSafetensors(handBuiltFile());
    expect(tensors.half?.dtype).toBe('float32');
    expect(tensors.half?.shape).toEqual([7]);
    expect([...(tensors.half?.data ?? [])]).toEqual(float16Values);
    expect(Object.is(tensors.half?.data[6], -0)).toBe(true);
  });

  it('decodes BF16 to float32', () => {
    const { tensors } = parseSafetensors(handBuiltFile());
    expect(tensors.brain?.dtype).toBe('float32');
    expect(tensors.brain?.shape).toEqual([2, 2]);
    expect([...(tensors.brain?.data ?? [])]).toEqual(bfloat16Values);
  });

  it('decodes F32 values', () => {
    const { tensors } = parseSafetensors(handBuiltFile());
    expect([...(tensors.single?.data ?? [])]).toEqual([1, -0.5, Math.fround(Math.PI)]);
  });

  it('converts integer dtypes to int32', () => {
    const { tensors } = parseSafetensors(handBuiltFile());
    expect(tensors.long?.dtype).toBe('int32');
    expect([...(tensors.long?.data ?? [])]).toEqual([1, -2, 2147483647, -2147483648]);
    expect([...(tensors.int?.data ?? [])]).toEqual([7, -1]);
    expect(tensors.int?.shape).toEqual([2, 1]);
    expect([...(tensors.byte?.data ?? [])]).toEqual([0, 200, 255]);
    expect([...(tensors.flag?.data ?? [])]).toEqual([1, 0]);
    expect([...(tensors.small?.data ?? [])]).toEqual([-128, 127]);
  });

  it('returns the metadata strings', () => {
    expect(parseSafetensors(handBuiltFile()).metadata).toEqual({ format: 'pt', note: 'hand built' });
  });

  it('reads the same values from a file', async () => {
    const path = join(folder, 'hand.safetensors');
    await writeFile(path, handBuiltFile());

    const fromFile = await readSafetensorsWithMetadata(path);
    const fromBuffer = parseSafetensors(handBuiltFile());
    expect(fromFile.metadata).toEqual(fromBuffer.metadata);
    for (const name of Object.keys(fromBuffer.tensors)) {
      expect(fromFile.tensors[name]?.shape).toEqual(fromBuffer.tensors[name]?.shape);
      expect([...(fromFile.tensors[name]?.data ?? [])]).toEqual([...(fromBuffer.tensors[name]?.data ?? [])]);
    }
  });

  it('accepts a header padded with spaces and tensors listed out of offset order', () => {
    const data = [...bytesOfUint32([0x3f800000]), ...bytesOfUint32([5])];
    const header = {
      second: { dtype: 'I32', shape: [], data_offsets: [4, 8] },
      first: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
    };
    const json = JSON.stringify(header) + '   ';
    const file = new Uint8Array(8 + json.length + data.length);
    new DataView(file.buffer).setBigUint64(0, BigInt(json.length), true);
    file.set(Buffer.from(json), 8);
    file.set(data, 8 + json.length);

    const { tensors } = parseSafetensors(file);
    expect([...(tensors.first?.data ?? [])]).toEqual([1]);
    expect(tensors.second?.shape).toEqual([]);
    expect([...(tensors.second?.data ?? [])]).toEqual([5]);
  });

  it('copies data out of the input buffer', () => {
    const file = buildFile({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, bytesOfUint32([0x3f800000]));
    const { tensors } = parseSafetensors(file);
    file.fill(0);
    expect(tensors.x?.data[0]).toBe(1);
  });
});

describe('safetensors round trip', () => {
  const arrays: NamedArrays = {
    'encoder.layer.0.weight': float32Array(new Float32Array([0.5, -1.25, 3e-8, 1e30, -0, 7]), [2, 3]),
    'a.bias': float32Array(new Float32Array([1, 2]), [2]),
    ids: int32Array(new Int32Array([-2147483648, 0, 2147483647]), [3]),
    '10': int32Array(new Int32Array([42]), []),
    empty: float32Array(new Float32Array(0), [0, 4]),
    'ünïcode.名前': float32Array(new Float32Array([9]), [1, 1]),
  };

  it('writes then reads the same arrays and metadata', async () => {
    const path = join(folder, 'model.safetensors');
    await writeSafetensors(path, arrays, { format: 'pt', epoch: '3' });

    const { tensors, metadata } = await readSafetensorsWithMetadata(path);
    expect(metadata).toEqual({ format: 'pt', epoch: '3' });
    expect(Object.keys(tensors).sort()).toEqual(Object.keys(arrays).sort());
    for (const [name, array] of Object.entries(arrays)) {
      expect(tensors[name]?.dtype).toBe(array.dtype);
      expect(tensors[name]?.shape).toEqual(array.shape);
      expect(tensors[name]?.data).toEqual(array.data);
    }
  });

  it('pads the header to 8 bytes', () => {
    const bytes = serializeSafetensors(arrays, { format: 'pt' });
    const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    expect(headerLength % 8).toBe(0);

    const headerText = Buffer.from(bytes.subarray(8, 8 + headerLength)).toString('utf8');
    expect(headerText).toMatch(/^\{.*\} *$/);
  });

  it('lays out metadata, then F32 then I32 by name', () => {
    const bytes = serializeSafetensors(arrays, { format: 'pt' });
    const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    const headerText = Buffer.from(bytes.subarray(8, 8 + headerLength)).toString('utf8');

    const keyOrder = [...headerText.matchAll(/"([^"]+)":\{"(?:dtype|format)/g)].map((match) => match[1]);
    expect(keyOrder).toEqual(['__metadata__', 'a.bias', 'empty', 'encoder.layer.0.weight', 'ünïcode.名前', '10', 'ids']);

    const header = JSON.parse(headerText) as Record<string, { data_offsets: number[] }>;
    expect(header['a.bias']?.data_offsets).toEqual([0, 8]);
    expect(header.empty?.data_offsets).toEqual([8, 8]);
    expect(header['encoder.layer.0.weight']?.data_offsets).toEqual([8, 32]);
  });

  // Expected bytes from the tests of the reference Rust crate (huggingface/safetensors, safetensors/src/tensor.rs).
  it('matches the reference writer bytes', () => {
    const attention = float32Array(new Float32Array([0, 1, 2, 3, 4, 5]), [1, 1, 2, 3]);
    expect([...serializeSafetensors({ attn0: attention })]).toEqual([
      72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34, 58, 34, 70,
      51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58, 91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97,
      95, 111, 102, 102, 115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32, 32, 32, 0, 0,
      0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
    ]);
    expect([...serializeSafetensors({})]).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    expect([...serializeSafetensors({}, { framework: 'pt' })]).toEqual([
      40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95, 95, 34, 58, 123, 34, 102, 114,
      97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112, 116, 34, 125, 125, 32, 32, 32, 32, 32,
    ]);
  });

  it('gives identical bytes for identical arrays', () => {
    const reordered: NamedArrays = Object.fromEntries(Object.entries(arrays).reverse());
    expect(Buffer.from(serializeSafetensors(reordered, { b: '2', a: '1' })).equals(
      Buffer.from(serializeSafetensors(arrays, { a: '1', b: '2' })),
    )).toBe(true);
  });

  it('omits __metadata__ without metadata', () => {
    const bytes = serializeSafetensors({ x: float32Array(new Float32Array([1]), [1]) });
    expect(Buffer.from(bytes).toString('utf8')).not.toContain('__metadata__');
    expect(parseSafetensors(bytes).metadata).toEqual({});
  });

  it('replaces an existing file and leaves no temporary file', async () => {
    const path = join(folder, 'model.safetensors');
    await writeFile(path, 'old content');
    await writeSafetensors(path, { x: float32Array(new Float32Array([2]), [1]) });

    expect(await readdir(folder)).toEqual(['model.safetensors']);
    expect([...((await readSafetensors(path)).x?.data ?? [])]).toEqual([2]);
  });

  it('rejects an array whose data does not match its shape', async () => {
    const bad = { weight: { dtype: 'float32', shape: [2, 2], data: new Float32Array(3) } } as NamedArrays;
    const path = join(folder, 'bad.safetensors');

    await expect(writeSafetensors(path, bad)).rejects.toThrow(/bad\.safetensors: tensor "weight" has 3 elements but shape \[2, 2\] needs 4/);
    expect(await readdir(folder)).toEqual([]);
  });

  it('rejects the reserved __metadata__ name', () => {
    expect(() => serializeSafetensors({ __metadata__: float32Array(new Float32Array([1]), [1]) })).toThrow(/reserved/);
  });
});

describe('safetensors validation', () => {
  async function writeBroken(bytes: Uint8Array): Promise<string> {
    const path = join(folder, 'broken.safetensors');
    await writeFile(path, bytes);
    return path;
  }

  it('rejects a file shorter than the length prefix', async () => {
    await expect(readSafetensors(await writeBroken(new Uint8Array([1, 2, 3])))).rejects.toThrow(/broken\.safetensors: invalid safetensors file, it has 3 bytes/);
  });

  it('rejects a header length beyond the file', async () => {
    const file = buildFile({}, [], 4096);
    await expect(readSafetensors(await writeBroken(file))).rejects.toThrow(/broken\.safetensors: .*header length is 4096 bytes but the file has only 10 bytes/);
    expect(() => parseSafetensors(file, 'in-memory.safetensors')).toThrow(/in-memory\.safetensors: .*header length is 4096/);
  });

  it('rejects a header length above the limit', () => {
    const file = new Uint8Array(16);
    new DataView(file.buffer).setBigUint64(0, 2n ** 62n, true);
    expect(() => parseSafetensors(file)).toThrow(/above the 100000000-byte limit/);
  });

  it('rejects a header that is not JSON', async () => {
    const json = Buffer.from('{"x": ');
    const file = new Uint8Array(8 + json.length);
    new DataView(file.buffer).setBigUint64(0, BigInt(json.length), true);
    file.set(json, 8);
    await expect(readSafetensors(await writeBroken(file))).rejects.toThrow(/broken\.safetensors: invalid safetensors header, it is not valid JSON/);
  });

  it('rejects offsets past the end of the data', async () => {
    const file = buildFile({ weight: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, [0, 0, 0, 0]);
    await expect(readSafetensors(await writeBroken(file))).rejects.toThrow(/broken\.safetensors: tensor "weight" has data_offsets \[0, 8\] past the end of the data section \(4 bytes\)/);
  });

  it('rejects overlapping tensors', async () => {
    const file = buildFile(
      {
        first: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        second: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
      },
      new Uint8Array(12),
    );
    await expect(readSafetensors(await writeBroken(file))).rejects.toThrow(/broken\.safetensors: tensor "second" .* overlaps tensor "first"/);
  });

  it('rejects a hole between tensors', () => {
    const file = buildFile(
      {
        first: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
        second: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
      },
      new Uint8Array(12),
    );
    expect(() => parseSafetensors(file, 'holey.safetensors')).toThrow(/holey\.safetensors: bytes 4 to 8 .*\(hole before tensor "second"\)/);
  });

  it('rejects bytes after the last tensor', () => {
    const file = buildFile({ only: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(6));
    expect(() => parseSafetensors(file, 'long.safetensors')).toThrow(/long\.safetensors: the data section has 6 bytes but the tensors cover only 4/);
  });

  it('rejects a size that does not match the shape', async () => {
    const file = buildFile({ weight: { dtype: 'F16', shape: [3, 2], data_offsets: [0, 8] } }, new Uint8Array(8));
    await expect(readSafetensors(await writeBroken(file))).rejects.toThrow(
      /broken\.safetensors: tensor "weight": data_offsets \[0, 8\] cover 8 bytes but dtype F16 with shape \[3, 2\] needs 12/,
    );
  });

  it('rejects an unsupported dtype naming file and tensor', async () => {
    const file = buildFile({ 'encoder.weight': { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8));
    await expect(readSafetensors(await writeBroken(file))).rejects.toThrow(/broken\.safetensors: tensor "encoder\.weight" has dtype F64, which ft does not read/);
  });

  it('rejects an unknown dtype', () => {
    const file = buildFile({ weight: { dtype: 'F128', shape: [1], data_offsets: [0, 16] } }, new Uint8Array(16));
    expect(() => parseSafetensors(file, 'odd.safetensors')).toThrow(/odd\.safetensors: tensor "weight": unknown dtype "F128"/);
  });

  it('rejects an I64 value outside int32', async () => {
    const data = new Uint8Array(16);
    new DataView(data.buffer).setBigInt64(8, 2n ** 40n, true);
    const file = buildFile({ 'embeddings.position_ids': { dtype: 'I64', shape: [1, 2], data_offsets: [0, 16] } }, data);
    await expect(readSafetensors(await writeBroken(file))).rejects.toThrow(
      /broken\.safetensors: tensor "embeddings\.position_ids" \(I64\) has value 1099511627776 at flat index 1, outside the int32 range/,
    );
  });

  it('rejects a non-string metadata value', () => {
    const file = buildFile({ __metadata__: { epoch: 3 } }, []);
    expect(() => parseSafetensors(file, 'meta.safetensors')).toThrow(/meta\.safetensors: .*__metadata__\.epoch is 3 but must be a string/);
  });

  it('names the path of a missing file', async () => {
    const missing = join(folder, 'missing.safetensors');
    await expect(readSafetensors(missing)).rejects.toThrow(`Safetensors file not found: ${missing}`);
    await expect(readSafetensors(missing)).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
  });

  it('raises FtError codes for corrupt and unsupported files', () => {
    const corrupt = buildFile({}, [], 4096);
    const unsupported = buildFile({ x: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8));
    expect(() => parseSafetensors(corrupt)).toThrow(expect.objectContaining({ code: 'CHECKPOINT_INVALID' }));
    expect(() => parseSafetensors(unsupported)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED' }));
  });

  it('reads a file written by the writer byte for byte', async () => {
    const path = join(folder, 'copy.safetensors');
    const bytes = serializeSafetensors({ x: int32Array(new Int32Array([1, 2]), [2]) }, { format: 'pt' });
    await writeSafetensors(path, { x: int32Array(new Int32Array([1, 2]), [2]) }, { format: 'pt' });
    expect(Buffer.from(await readFile(path)).equals(Buffer.from(bytes))).toBe(true);
  });
});
