// A bounded read of an HTTP answer's body: a server may announce more than the bound, send more
// than it announced, or announce nothing; never more than `maxBytes` is buffered. Isomorphic.

/** Why a body could not be read: over the bound (`size` so far or announced), or the read failed (late, reset). */
export class BodyReadError extends Error {
  constructor(
    readonly kind: "too-large" | "failed",
    message: string,
    readonly size?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The body of `response`, at most `maxBytes`; throws BodyReadError. */
export async function readBoundedBody(response: Response, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw new BodyReadError("too-large", `the answer announces ${declared} bytes, above ${maxBytes}`, declared);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    const reader = response.body?.getReader();
    for (;;) {
      const next = reader === undefined ? { done: true as const, value: undefined } : await reader.read();
      if (next.done) break;
      size += next.value.length;
      if (size > maxBytes) {
        await reader!.cancel().catch(() => undefined);
        throw new BodyReadError("too-large", `answer above ${maxBytes} bytes`, size);
      }
      chunks.push(next.value);
    }
  } catch (error) {
    if (error instanceof BodyReadError) throw error;
    throw new BodyReadError("failed", "the answer did not arrive", undefined, { cause: error });
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}
