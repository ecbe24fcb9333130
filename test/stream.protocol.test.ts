/** The wire format: audio frames round-trip, malformed frames and messages become typed errors. */
import { describe, expect, it } from 'vitest';
import {
  AUDIO_HEADER_BYTES, DEFAULT_LIMITS, ProtocolError, decodeAudioFrame, displayMel, encodeAudioFrame, encodeMessage, isAudioFrame,
  parseClientMessage, parseServerMessage,
} from '../src/stream/protocol.js';

const code = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ProtocolError);
    return (e as ProtocolError).code;
  }
  throw new Error('did not throw');
};

describe('audio frames', () => {
  const samples = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i / 7) * 0.9);
  const header = { streamId: 42, seq: 3, sampleRate: 22050, sampleOffset: 768, last: true };

  it('round-trip header and samples, little-endian layout', () => {
    const bytes = encodeAudioFrame(header, samples);
    expect(bytes.length).toBe(AUDIO_HEADER_BYTES + 4000);
    expect(isAudioFrame(bytes)).toBe(true);
    expect(String.fromCharCode(...bytes.subarray(0, 4))).toBe('FVOX');
    const dv = new DataView(bytes.buffer);
    expect([dv.getUint8(4), dv.getUint8(5), dv.getUint16(6, true), dv.getUint32(8, true), dv.getUint32(12, true), dv.getUint32(16, true), dv.getUint32(20, true), dv.getUint32(24, true)])
      .toEqual([1, 1, 32, 42, 3, 22050, 768, 1000]);
    expect(dv.getFloat32(32 + 4 * 5, true)).toBe(samples[5]);
    const f = decodeAudioFrame(bytes);
    expect({ ...f, samples: undefined }).toEqual({ ...header, samples: undefined });
    expect(f.samples).toEqual(samples);
  });

  it('decodes from an unaligned view and from an ArrayBuffer', () => {
    const bytes = encodeAudioFrame({ ...header, last: false }, samples);
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    const f = decodeAudioFrame(shifted.subarray(3));
    expect(f.samples).toEqual(samples);
    expect(f.last).toBe(false);
    expect(decodeAudioFrame(bytes.slice().buffer).samples).toEqual(samples);
    expect(decodeAudioFrame(encodeAudioFrame(header, new Float32Array(0))).samples.length).toBe(0);
  });

  it('malformed frames are typed errors', () => {
    const good = encodeAudioFrame(header, samples);
    expect(code(() => decodeAudioFrame(good.subarray(0, 20)))).toBe('bad_frame'); // short header
    const magic = good.slice();
    magic[0] = 0x47;
    expect(code(() => decodeAudioFrame(magic))).toBe('bad_frame');
    const version = good.slice();
    version[4] = 9;
    expect(() => decodeAudioFrame(version)).toThrow(/version 9/);
    expect(code(() => decodeAudioFrame(good.subarray(0, good.length - 2)))).toBe('bad_frame'); // truncated samples
    const count = good.slice();
    new DataView(count.buffer).setUint32(24, 5000, true);
    expect(() => decodeAudioFrame(count)).toThrow(/5000 samples/);
    const hdr = good.slice();
    new DataView(hdr.buffer).setUint16(6, 30, true);
    expect(code(() => decodeAudioFrame(hdr))).toBe('bad_frame');
    expect(code(() => encodeAudioFrame({ ...header, streamId: -1 }, samples))).toBe('bad_frame');
  });
});

describe('client messages', () => {
  it('valid messages parse to typed objects', () => {
    expect(parseClientMessage('{"type":"start","id":1,"source":{"kind":"sample","sampleId":"a"},"sigma":0.5,"seed":9,"chunkFrames":16,"denoise":0.1}'))
      .toEqual({ type: 'start', id: 1, source: { kind: 'sample', sampleId: 'a' }, sigma: 0.5, seed: 9, chunkFrames: 16, denoise: 0.1 });
    expect(parseClientMessage('{"type":"start","id":2,"source":{"kind":"wav","bytes":1000}}')).toEqual({ type: 'start', id: 2, source: { kind: 'wav', bytes: 1000 } });
    expect(parseClientMessage('{"type":"cancel","id":2}')).toEqual({ type: 'cancel', id: 2 });
    expect(parseClientMessage('{"type":"ping","t":12.5}')).toEqual({ type: 'ping', t: 12.5 });
    expect(parseClientMessage('{"type":"auth","token":"s"}')).toEqual({ type: 'auth', token: 's' });
  });

  it.each([
    ['not json', 'bad_json'],
    ['[1,2]', 'bad_json'],
    ['null', 'bad_json'],
    ['{"t":1}', 'unknown_type'],
    ['{"type":"launch"}', 'unknown_type'],
    ['{"type":"start","source":{"kind":"sample","sampleId":"a"}}', 'missing_field'],
    ['{"type":"start","id":1}', 'missing_field'],
    ['{"type":"start","id":-1,"source":{"kind":"sample","sampleId":"a"}}', 'bad_field'],
    ['{"type":"start","id":1.5,"source":{"kind":"sample","sampleId":"a"}}', 'bad_field'],
    ['{"type":"start","id":"1","source":{"kind":"sample","sampleId":"a"}}', 'bad_field'],
    ['{"type":"start","id":1,"source":{"kind":"mp3","bytes":5}}', 'bad_field'],
    ['{"type":"start","id":1,"source":{"kind":"wav"}}', 'missing_field'],
    ['{"type":"start","id":1,"source":{"kind":"wav","bytes":0}}', 'bad_field'],
    [`{"type":"start","id":1,"source":{"kind":"npy","bytes":${DEFAULT_LIMITS.maxUploadBytes + 1}}}`, 'too_large'],
    ['{"type":"start","id":1,"source":{"kind":"sample","sampleId":"a"},"sigma":"high"}', 'bad_field'],
    ['{"type":"start","id":1,"source":{"kind":"sample","sampleId":"a"},"sigma":5}', 'bad_field'],
    ['{"type":"start","id":1,"source":{"kind":"sample","sampleId":"a"},"chunkFrames":0}', 'bad_field'],
    ['{"type":"start","id":1,"source":{"kind":"sample","sampleId":"a"},"chunkFrames":100000}', 'bad_field'],
    ['{"type":"cancel"}', 'missing_field'],
    ['{"type":"ping","t":"now"}', 'bad_field'],
    ['{"type":"auth","token":5}', 'bad_field'],
    ['x'.repeat(70_000), 'too_large'],
  ])('%s → %s', (text, expected) => {
    expect(code(() => parseClientMessage(text))).toBe(expected);
  });

  it('errors carry the stream id when it is known', () => {
    try {
      parseClientMessage('{"type":"start","id":7,"source":{"kind":"sample","sampleId":"a"},"sigma":-1}');
    } catch (e) {
      expect((e as ProtocolError).id).toBe(7);
    }
  });
});

describe('server messages and display mel', () => {
  it('parses the envelope', () => {
    const m = parseServerMessage(encodeMessage({ type: 'busy', id: 3, retryAfterMs: 500, message: 'full' }));
    expect(m).toEqual({ type: 'busy', id: 3, retryAfterMs: 500, message: 'full' });
    expect(code(() => parseServerMessage('{"type":"nope"}'))).toBe('unknown_type');
    expect(code(() => parseServerMessage('{"type":"done"}'))).toBe('missing_field');
    expect(code(() => parseServerMessage('{'))).toBe('bad_json');
  });

  it('displayMel averages frames into at most maxColumns columns', () => {
    const frames = 10;
    const bands = 2;
    const data = Float32Array.from({ length: frames * bands }, (_, i) => Math.floor(i / bands)); // value = frame index
    const d = displayMel(data, frames, bands, 5);
    expect(d.columns).toBe(5);
    expect(d.data).toEqual([0.5, 0.5, 2.5, 2.5, 4.5, 4.5, 6.5, 6.5, 8.5, 8.5]);
    expect([d.min, d.max]).toEqual([0.5, 8.5]);
    expect(displayMel(data, frames, bands).columns).toBe(10);
  });
});
