import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { ConfigError } from "./config.js";

/** Reads a node key file: 32 bytes of hex, with or without 0x, surrounding whitespace ignored. */
export async function readNodeKey(file: string): Promise<Uint8Array> {
  let text: string;
  try {
    text = (await readFile(file, "utf8")).trim();
  } catch (error) {
    throw new ConfigError(`cannot read node key file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  const hex = text.startsWith("0x") ? text.slice(2) : text;
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new ConfigError(`node key file ${file} must hold 32 bytes of hex`);
  return Uint8Array.from(Buffer.from(hex, "hex"));
}

// secp256k1's group order: a valid private key is in [1, N).
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

function randomPrivateKey(): Uint8Array {
  for (;;) {
    const key = randomBytes(32);
    const value = BigInt(`0x${key.toString("hex")}`);
    if (value > 0n && value < N) return Uint8Array.from(key);
  }
}

/**
 * The node key in `file`, made when the file does not exist (bare hex, as nwaku's `--nodekey` and
 * `openssl rand -hex 32` have it, readable by its owner only). An existing file is only read.
 */
export async function createNodeKey(file: string): Promise<{ privateKey: Uint8Array; created: boolean }> {
  const key = randomPrivateKey();
  await mkdir(path.dirname(file), { recursive: true });
  try {
    // "wx": fails if the file exists, so a key is never overwritten (even by a race).
    await writeFile(file, `${Buffer.from(key).toString("hex")}\n`, { flag: "wx", mode: 0o600 });
    return { privateKey: key, created: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
      throw new ConfigError(`cannot write node key file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
  }
  return { privateKey: await readNodeKey(file), created: false };
}
