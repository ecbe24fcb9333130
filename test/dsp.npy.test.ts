/** .npy reading/writing against files written by numpy 2.4 (np.save / format.write_array), base64 below. */
import { describe, expect, it } from 'vitest';
import { melFromNpy, melToNpy, readNpy, writeNpy } from '../src/dsp/npy.js';

const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

// np.save(np.arange(6, dtype='<f4').reshape(2, 3) / 4)
const C_F4 = b64('k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAACAPgAAAD8AAEA/AACAPwAAoD8=');
// np.save(np.asfortranarray(np.arange(24, dtype='<f8').reshape(2, 3, 4)))
const FORTRAN_F8 = b64('k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMywgNCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAAAAAAAAAAAAChAAAAAAAAAEEAAAAAAAAAwQAAAAAAAACBAAAAAAAAANEAAAAAAAADwPwAAAAAAACpAAAAAAAAAFEAAAAAAAAAxQAAAAAAAACJAAAAAAAAANUAAAAAAAAAAQAAAAAAAACxAAAAAAAAAGEAAAAAAAAAyQAAAAAAAACRAAAAAAAAANkAAAAAAAAAIQAAAAAAAAC5AAAAAAAAAHEAAAAAAAAAzQAAAAAAAACZAAAAAAAAAN0A=');
// np.save(np.array([-32768, -1, 0, 1, 32767], dtype='<i2'))
const I2 = b64('k05VTVBZAQB2AHsnZGVzY3InOiAnPGkyJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDUsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAgP//AAABAP9/');
// np.save(np.array([[1, -2], [3, 2147483647]], dtype='<i4'))
const I4 = b64('k05VTVBZAQB2AHsnZGVzY3InOiAnPGk0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAAAA/v///wMAAAD///9/');
// format.write_array(..., (arange(6)/4).astype('<f8'), version=(2, 0)) and the '<f4' one with version=(3, 0)
const V2_F8 = b64('k05VTVBZAgB0AAAAeydkZXNjcic6ICc8ZjgnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMiwgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAAAAAAAAAAAANA/AAAAAAAA4D8AAAAAAADoPwAAAAAAAPA/AAAAAAAA9D8=');
const V3_F4 = b64('k05VTVBZAwB0AAAAeydkZXNjcic6ICc8ZjQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMiwgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAACAPgAAAD8AAEA/AACAPwAAoD8=');
// np.save(a.astype('>f4')), np.save(np.array(3.5)), np.save(np.array([1, 2], dtype='u1'))
const BIG_ENDIAN = b64('k05VTVBZAQB2AHsnZGVzY3InOiAnPmY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAPoAAAD8AAAA/QAAAP4AAAD+gAAA=');
const SCALAR = b64('k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAAMQA==');
const U1 = b64('k05VTVBZAQB2AHsnZGVzY3InOiAnfHUxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAg==');

describe('readNpy', () => {
  it('reads C-order float32, v2 float64 and v3 float32', () => {
    for (const [bytes, dtype, ctor] of [
      [C_F4, '<f4', Float32Array],
      [V2_F8, '<f8', Float64Array],
      [V3_F4, '<f4', Float32Array],
    ] as const) {
      const a = readNpy(bytes);
      expect(a.dtype).toBe(dtype);
      expect(a.shape).toEqual([2, 3]);
      expect(a.data).toBeInstanceOf(ctor);
      expect(Array.from(a.data)).toEqual([0, 0.25, 0.5, 0.75, 1, 1.25]);
    }
  });

  it('transposes fortran_order arrays to C order', () => {
    const a = readNpy(FORTRAN_F8);
    expect(a.shape).toEqual([2, 3, 4]);
    expect(Array.from(a.data)).toEqual(Array.from({ length: 24 }, (_, i) => i));
  });

  it('converts int16/int32 to float values (no rescaling)', () => {
    const a = readNpy(I2);
    expect(a.data).toBeInstanceOf(Float32Array);
    expect(Array.from(a.data)).toEqual([-32768, -1, 0, 1, 32767]);
    const b = readNpy(I4);
    expect(b.shape).toEqual([2, 2]);
    expect(Array.from(b.data)).toEqual([1, -2, 3, 2147483648]); // nearest float32 to 2³¹ − 1
  });

  it('reads 0-d arrays and unaligned buffers', () => {
    expect(readNpy(SCALAR)).toMatchObject({ shape: [], dtype: '<f8' });
    expect(readNpy(SCALAR).data[0]).toBe(3.5);
    const shifted = new Uint8Array(C_F4.length + 3);
    shifted.set(C_F4, 3);
    expect(Array.from(readNpy(shifted.subarray(3)).data)).toEqual([0, 0.25, 0.5, 0.75, 1, 1.25]);
  });

  it('gives clear errors', () => {
    expect(() => readNpy(BIG_ENDIAN)).toThrow(/big-endian/);
    expect(() => readNpy(U1)).toThrow(/unsupported npy dtype '\|u1'/);
    expect(() => readNpy(new TextEncoder().encode('hello world, not numpy'))).toThrow(/not a \.npy file/);
    expect(() => readNpy(C_F4.subarray(0, C_F4.length - 2))).toThrow(/truncated \.npy data.*24 bytes, 22 present/);
    expect(() => readNpy(C_F4.subarray(0, 40))).toThrow(/truncated \.npy header/);
  });
});

describe('writeNpy', () => {
  it('writes exactly what numpy writes', () => {
    const bytes = writeNpy(new Float32Array([0, 0.25, 0.5, 0.75, 1, 1.25]), [2, 3]);
    expect(Buffer.from(bytes).equals(Buffer.from(C_F4))).toBe(true);
  });

  it('round-trips float64 and 1-d shapes, header aligned to 64', () => {
    const data = Float64Array.from({ length: 7 }, (_, i) => Math.PI * i);
    const bytes = writeNpy(data, [7], '<f8');
    expect(bytes.length % 8).toBe(0);
    const hdr = new TextDecoder().decode(bytes.subarray(10, 10 + (bytes[8]! | (bytes[9]! << 8))));
    expect(hdr).toContain("'shape': (7,)");
    expect((10 + hdr.length) % 64).toBe(0);
    const back = readNpy(bytes);
    expect(back.shape).toEqual([7]);
    expect(Array.from(back.data)).toEqual(Array.from(data));
    expect(() => writeNpy(data, [2, 3])).toThrow(/holds 6 values, data has 7/);
  });
});

describe('melFromNpy', () => {
  const frames = 5;
  const melMajor = Float32Array.from({ length: 80 * frames }, (_, i) => i); // [80, 5]: value = m·5 + t
  const expectChannelsLast = (m: { data: Float32Array; frames: number; nMels: number }) => {
    expect(m.frames).toBe(frames);
    expect(m.nMels).toBe(80);
    for (let t = 0; t < frames; t++) for (let b = 0; b < 80; b++) expect(m.data[t * 80 + b]).toBe(b * frames + t);
  };

  it('accepts [80, T] and [1, 80, T] and converts to channels-last', () => {
    expectChannelsLast(melFromNpy(writeNpy(melMajor, [80, frames])));
    expectChannelsLast(melFromNpy(readNpy(writeNpy(melMajor, [1, 80, frames]))));
  });

  it('accepts [T, 80] when unambiguous', () => {
    const timeMajor = new Float32Array(80 * frames);
    for (let t = 0; t < frames; t++) for (let b = 0; b < 80; b++) timeMajor[t * 80 + b] = b * frames + t;
    expectChannelsLast(melFromNpy(writeNpy(timeMajor, [frames, 80])));
    // [80, 80] reads as mel-major, the Python convention.
    const sq = melFromNpy(writeNpy(Float32Array.from({ length: 6400 }, (_, i) => i), [80, 80]));
    expect(sq.data[1]).toBe(80); // frame 0, band 1 = element [1, 0]
  });

  it('round-trips with melToNpy', () => {
    const mel = { data: Float32Array.from({ length: 80 * 3 }, (_, i) => Math.sin(i)), frames: 3, nMels: 80 };
    const back = melFromNpy(melToNpy(mel));
    expect(back.frames).toBe(3);
    expect(Array.from(back.data)).toEqual(Array.from(mel.data));
    expect(readNpy(melToNpy(mel)).shape).toEqual([80, 3]);
  });

  it('rejects wrong shapes and non-finite values', () => {
    expect(() => melFromNpy(writeNpy(new Float32Array(64 * 3), [64, 3]))).toThrow(/shape \[64, 3\]; expected \[80, T\]/);
    expect(() => melFromNpy(writeNpy(new Float32Array(80 * 3 * 2), [2, 80, 3]))).toThrow(/shape \[2, 80, 3\]/);
    expect(() => melFromNpy(writeNpy(new Float32Array(0), [80, 0]))).toThrow(/no frames/);
    const bad = new Float32Array(80 * 4);
    bad[2 * 4 + 3] = Number.NaN;
    expect(() => melFromNpy(writeNpy(bad, [80, 4]))).toThrow(/NaN at band 2, frame 3/);
    bad[2 * 4 + 3] = Number.NEGATIVE_INFINITY;
    expect(() => melFromNpy(writeNpy(bad, [80, 4]))).toThrow(/-Infinity at band 2, frame 3/);
    expect(melFromNpy(writeNpy(new Float32Array(64 * 3), [64, 3]), 64).nMels).toBe(64);
  });
});
