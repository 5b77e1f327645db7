import { getAddress, type ContractRunner, type Provider, type Signer } from "ethers";
import { resolveDeployment, type Deployment, type DeploymentOverrides } from "../deployments.js";
import { MailserverSdkError, toSdkError } from "../errors.js";
import { withRetry, type RetryOptions } from "./rpc.js";
import { onceUnlessFailed } from "../util.js";

/** What every client is built from. */
export interface ClientOptions {
  /** An ethers v6 Provider (reads only) or Signer (reads and writes). */
  runner: ContractRunner;
  /**
   * The chain the caller means to use. When given, the first use checks the provider's chain
   * against it (WRONG_CHAIN); when omitted, the provider's chain is taken as it is.
   */
  chainId?: bigint | number;
  /** Contract addresses; each wins over the known deployment of the chain. */
  addresses?: DeploymentOverrides;
  /** Retry policy of reads. */
  retry?: RetryOptions;
}

/** The checked chain and its addresses, known after the first use. */
export interface ChainInfo {
  chainId: bigint;
  deployment: Partial<Deployment>;
}

function isSigner(runner: ContractRunner): runner is Signer {
  return typeof (runner as Partial<Signer>).sendTransaction === "function" && typeof (runner as Partial<Signer>).getAddress === "function";
}

/**
 * The provider's chain id, checked against `expected` when given (WRONG_CHAIN): the one chain
 * check of the clients and the subscription index.
 */
export async function readChainId(provider: Provider, retry: RetryOptions, expected: bigint | undefined): Promise<bigint> {
  const { chainId: actual } = await withRetry("read chain id", () => provider.getNetwork(), retry);
  if (expected !== undefined && expected !== actual) {
    throw new MailserverSdkError("WRONG_CHAIN", `connected to chain ${actual}, expected chain ${expected}`, { details: { expected, actual } });
  }
  return actual;
}

/**
 * The runner, provider and chain check shared by a client. The chain id is read once, on first
 * use (constructors stay synchronous and offline); a failed check is not cached, so a client
 * recovers when the RPC comes back.
 */
export class ChainContext {
  readonly runner: ContractRunner;
  readonly provider: Provider;
  readonly retry: RetryOptions;
  readonly #expectedChainId: bigint | undefined;
  readonly #overrides: DeploymentOverrides;
  /** The checked chain id and addresses (one RPC call the first time, none after). */
  readonly info: () => Promise<ChainInfo> = onceUnlessFailed(() => this.#check());

  constructor(options: ClientOptions) {
    if (options === undefined || options.runner === undefined || options.runner === null) {
      throw new MailserverSdkError("INVALID_ARGUMENT", "a runner (ethers Provider or Signer) is required");
    }
    const provider = (options.runner.provider ?? options.runner) as Partial<Provider>;
    if (typeof provider.getNetwork !== "function") {
      throw new MailserverSdkError("INVALID_ARGUMENT", "the runner has no provider: connect the signer to a provider");
    }
    this.runner = options.runner;
    this.provider = provider as Provider;
    this.retry = options.retry ?? {};
    this.#expectedChainId = options.chainId === undefined ? undefined : BigInt(options.chainId);
    this.#overrides = options.addresses ?? {};
  }

  async #check(): Promise<ChainInfo> {
    const actual = await readChainId(this.provider, this.retry, this.#expectedChainId);
    return { chainId: actual, deployment: resolveDeployment(actual, this.#overrides) };
  }

  /** The latest block's timestamp (seconds): the chain's clock, which deadlines and expiries use. */
  async latestBlockTime(): Promise<bigint> {
    const block = await this.read("latest block", () => this.provider.getBlock("latest"));
    if (block === null) throw new MailserverSdkError("RPC_UNAVAILABLE", "the provider returned no latest block");
    return BigInt(block.timestamp);
  }

  /** The signer, or INVALID_ARGUMENT for a read-only client. */
  signer(action: string): Signer {
    if (!isSigner(this.runner)) {
      throw new MailserverSdkError("INVALID_ARGUMENT", `${action} needs a Signer as runner, got a read-only provider`, {
        details: { action },
      });
    }
    return this.runner;
  }

  /** The signer's address (INVALID_ARGUMENT for a read-only client). */
  async signerAddress(action: string): Promise<string> {
    const signer = this.signer(action);
    try {
      return getAddress(await signer.getAddress());
    } catch (error) {
      throw toSdkError(error, `${action}: signer address`);
    }
  }

  /** Run a read with the client's retry policy. */
  read<T>(label: string, call: () => Promise<T>): Promise<T> {
    return withRetry(label, call, this.retry);
  }
}
