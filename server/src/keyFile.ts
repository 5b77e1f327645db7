import { readFile } from "node:fs/promises";
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
