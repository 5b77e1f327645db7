// Which kinds an ENR announces: Waku capabilities (`waku2`) mapped to registry kinds, plus the
// optional `srvkind` key.
import { parseEnr, type EnrLike, type ParsedEnr } from "../enr.js";
import { kindId } from "../nodeKey.js";
import { MAILSERVER_KIND_NAME } from "../serviceKinds.js";

export { SERVICE_KIND_ENR_KEY, MAILSERVER_KIND_NAME, encodeKinds, decodeKinds } from "../serviceKinds.js";

/** Kind ids an ENR (text, object or parsed) announces, from `waku2` and `srvkind`. Invalid ENR text throws INVALID_ENR. */
export function enrKinds(enr: string | EnrLike | ParsedEnr): string[] {
  const parsed = typeof enr === "object" && "kinds" in enr && Array.isArray((enr as ParsedEnr).kinds) ? (enr as ParsedEnr) : parseEnr(enr as string | EnrLike);
  return [...parsed.kinds];
}

/** Whether an ENR announces `kind` (name or id; default mail server, i.e. the `waku2` store bit or `srvkind`). */
export function enrHasKind(enr: string | EnrLike | ParsedEnr, kind: string = MAILSERVER_KIND_NAME): boolean {
  return enrKinds(enr).includes(kindId(kind));
}
