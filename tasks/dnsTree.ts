// `npx hardhat dns-tree`: build and sign an EIP-1459 tree of node ENRs (the registry's trusted
// nodes of a kind and/or a list) and print it as zone-file TXT records, for a provider or curator
// to publish under their domain.
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { configVariable } from "hardhat/config";
import { readFile, writeFile } from "node:fs/promises";
import { isHexString } from "ethers";
import { RegistryClient, RegistrySource, buildEnrTree, parseEnr, toZoneFile, type NodeTrust } from "@status/mailserver-sdk";
import { kindArg, runTask, taskContext, TaskInputError, type CommonArgs } from "./context.js";

export interface DnsTreeArgs extends CommonArgs {
  domain: string;
  seq: string;
  kind: string;
  enrs: string;
  link: string;
  keyFile: string;
  out: string;
  noRegistry: boolean;
}

/** The signing key: `--key-file`, else the configuration variable DNS_TREE_KEY (never a CLI argument, which shells keep in history). */
async function treeKey(args: DnsTreeArgs, hre: HardhatRuntimeEnvironment): Promise<string> {
  let text: string;
  if (args.keyFile !== "") {
    text = await readFile(args.keyFile, "utf8").then((t) => t.trim(), () => {
      throw new TaskInputError(`cannot read tree key file ${args.keyFile}`);
    });
  } else {
    const variable = configVariable("DNS_TREE_KEY");
    // Resolved like any configuration variable: the keystore (`npx hardhat keystore set DNS_TREE_KEY`), then the environment.
    try {
      text = await hre.hooks.runHandlerChain("configurationVariables", "fetchValue", [variable], async (_context, v) => {
        const value = process.env[v.name];
        if (value === undefined || value === "") throw new Error("not set");
        return value;
      });
    } catch (error) {
      const why = error instanceof Error ? error.message.split("\n")[0] : String(error);
      throw new TaskInputError(`no tree key: pass --key-file or set the configuration variable DNS_TREE_KEY (${why})`);
    }
    text = text.trim();
  }
  const key = text.startsWith("0x") ? text : `0x${text}`;
  if (!isHexString(key, 32)) throw new TaskInputError("the tree key must be a 32-byte secp256k1 private key in hex");
  return key;
}

async function listFile(file: string): Promise<string[]> {
  const text = await readFile(file, "utf8").catch(() => {
    throw new TaskInputError(`cannot read ${file}`);
  });
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
}

/** ENRs of the registry's trusted nodes of a kind (records that are not ENRs are reported and left out). */
async function trustedEnrs(args: DnsTreeArgs, hre: HardhatRuntimeEnvironment, kind: string): Promise<string[]> {
  const ctx = await taskContext(args, hre);
  const registry = new RegistryClient({ runner: ctx.signer, addresses: ctx.addresses });
  const trust = new Map<string, NodeTrust>();
  const source = new RegistrySource({
    kind,
    records: async (k) => {
      const ids = await registry.allNodesByKind(k);
      for (let i = 0; i < ids.length; i += 100) for (const t of await registry.getNodeTrust(ids.slice(i, i + 100))) trust.set(t.nodeId, t);
      return [...trust.values()].filter((t) => t.trusted);
    },
  });
  const enrs = await source.discover();
  for (const s of source.lastSkipped) console.error(`skipped node ${s.nodeId}: ${s.reason} (record ${s.record.slice(0, 60)})`);
  return enrs;
}

export async function dnsTree(args: DnsTreeArgs, hre: HardhatRuntimeEnvironment): Promise<void> {
  await runTask(async () => {
    if (args.domain === "") throw new TaskInputError("--domain is required");
    if (!/^\d{1,10}$/.test(args.seq) || Number(args.seq) > 0xffffffff) throw new TaskInputError("--seq must be an integer (bump it on every publication)");
    const key = await treeKey(args, hre);
    const listed = args.enrs === "" ? [] : await listFile(args.enrs);
    for (const enr of listed) {
      try {
        parseEnr(enr);
      } catch (error) {
        throw new TaskInputError(`${args.enrs}: ${error instanceof Error ? error.message : String(error)}: ${enr.slice(0, 40)}…`);
      }
    }
    const fromRegistry = args.noRegistry ? [] : await trustedEnrs(args, hre, kindArg(args.kind));
    const links = args.link === "" ? [] : args.link.split(",").map((l) => l.trim()).filter((l) => l !== "");
    const enrs = [...fromRegistry, ...listed];
    if (enrs.length === 0 && links.length === 0) throw new TaskInputError("nothing to publish: no trusted node of that kind has an ENR record, and no --enrs or --link given");
    let tree;
    try {
      tree = buildEnrTree({ domain: args.domain, enrs, links, seq: Number(args.seq), privateKey: key });
    } catch (error) {
      throw new TaskInputError(error instanceof Error ? error.message : String(error));
    }
    const zone = toZoneFile(tree);
    if (args.out !== "") {
      await writeFile(args.out, zone);
      console.log(`wrote ${tree.entries.size + 1} TXT records to ${args.out}`);
    } else {
      process.stdout.write(zone);
    }
    console.error(`${tree.url}  seq ${tree.root.seq}: ${fromRegistry.length} trusted registry node(s), ${listed.length} listed, ${links.length} link(s)`);
  });
}
