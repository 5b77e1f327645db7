import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";

export const LOCAL_CHAIN_ID = 31337n;

export interface RecordedDeployment {
  registry: string;
  escrow: string;
  token: string;
  startBlock: number;
}

const root = path.resolve(import.meta.dirname, "..");
const SDK_FILE = path.join(root, "sdk", "src", "deployments.ts");
const START = "// BEGIN DEPLOYMENTS";
const END = "// END DEPLOYMENTS";
const DECLARATION = "export const DEPLOYMENTS: Readonly<Record<string, Deployment>> = ";

/** Where a chain's addresses live: the SDK for real chains, a local file for chain 31337. */
export function deploymentFile(chainId: bigint): string {
  return chainId === LOCAL_CHAIN_ID ? path.join(root, "deploy", "deployments", `${chainId}.json`) : SDK_FILE;
}

/**
 * Records a deployment. Real chains are written into the SDK's deployments table (between its
 * markers), so they ship with the package; local chains go to deploy/deployments/31337.json.
 * Returns the file written.
 */
export async function recordDeployment(chainId: bigint, deployment: RecordedDeployment): Promise<string> {
  const file = deploymentFile(chainId);
  if (chainId === LOCAL_CHAIN_ID) {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, `${JSON.stringify(deployment, null, 2)}\n`);
    return file;
  }
  // The table between the markers is a JSON object literal after its declaration.
  const source = await readFile(file, "utf8");
  const start = source.indexOf(START);
  const end = source.indexOf(END);
  const declared = source.indexOf(DECLARATION, start);
  if (start < 0 || end < start || declared < 0 || declared > end) throw new Error(`${file} has no deployments table`);
  const literal = source.slice(declared + DECLARATION.length, end).trim().replace(/;$/, "");
  const table = JSON.parse(literal) as Record<string, RecordedDeployment>;
  table[chainId.toString()] = deployment;
  const body = `${DECLARATION}${JSON.stringify(table, null, 2)};\n`;
  await writeFile(file, source.slice(0, declared) + body + source.slice(end));
  return file;
}

/** The local chain's last recorded deployment, if any (for tasks and scripts on localhost). */
export async function readLocalDeployment(): Promise<RecordedDeployment | undefined> {
  try {
    return JSON.parse(await readFile(deploymentFile(LOCAL_CHAIN_ID), "utf8")) as RecordedDeployment;
  } catch {
    return undefined;
  }
}
