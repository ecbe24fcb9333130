/**
 * float32 arrays ↔ base64, with the btoa/atob that browsers and Node ≥ 16 both have (Node's Buffer
 * would tie the library to Node). Little-endian, as every platform tfjs runs on.
 */
export function float32ToBase64(x: Float32Array): string {
  const bytes = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  let bin = '';
  const CHUNK = 0x8000; // String.fromCharCode's argument count stays well under engine limits
  for (let i = 0; i < bytes.length; i += CHUNK) bin += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  return btoa(bin);
}

export function base64ToFloat32(s: string): Float32Array {
  const bin = atob(s);
  if (bin.length % 4 !== 0) throw new Error(`base64 holds ${bin.length} bytes, not a whole number of float32s`);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Float32Array(bytes.buffer);
}
