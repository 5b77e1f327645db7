// One unsigned-varint length-prefixed frame over a libp2p stream (it-length-prefixed's wire
// format), written and read without a dependency, with a size bound that holds whatever the peer
// sends: never more than one maximal frame is buffered.

/** A Uint8Array or a Uint8ArrayList (both give their bytes with `subarray()`). */
export type Chunk = Uint8Array | { subarray(): Uint8Array };

/** Why a frame could not be read. */
export class FrameError extends Error {
  constructor(
    readonly kind: "too-large" | "bad-prefix" | "ended",
    message: string,
    /** The announced size, for `too-large`. */
    readonly size?: number,
  ) {
    super(message);
  }
}

/** `bytes` with its varint length prefix. */
export function frame(bytes: Uint8Array): Uint8Array {
  const prefix: number[] = [];
  let n = bytes.length;
  while (n >= 0x80) {
    prefix.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  prefix.push(n);
  const out = new Uint8Array(prefix.length + bytes.length);
  out.set(prefix, 0);
  out.set(bytes, prefix.length);
  return out;
}

/** Reads the first frame of `source`; a frame over `maxBytes` (at most 2^28) is refused as soon as it is announced. */
export async function readFrame(source: AsyncIterable<Chunk>, maxBytes: number): Promise<Uint8Array> {
  let buffer = new Uint8Array(0);
  for await (const chunk of source) {
    const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray();
    const joined = new Uint8Array(buffer.length + bytes.length);
    joined.set(buffer, 0);
    joined.set(bytes, buffer.length);
    buffer = joined;
    let length = 0;
    for (let i = 0; i < buffer.length; i++) {
      if (i >= 4) throw new FrameError("bad-prefix", "bad length prefix");
      length += (buffer[i]! & 0x7f) * 2 ** (7 * i);
      if ((buffer[i]! & 0x80) === 0) {
        if (length > maxBytes) throw new FrameError("too-large", `the answer announces ${length} bytes, above ${maxBytes}`, length);
        if (buffer.length >= i + 1 + length) return buffer.slice(i + 1, i + 1 + length);
        break;
      }
    }
    if (buffer.length > maxBytes + 4) throw new FrameError("too-large", "answer too large");
  }
  throw new FrameError("ended", "stream ended before an answer");
}
