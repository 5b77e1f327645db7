// Signed offers of mail servers: the public face of offer/ (the document, its signing and
// verification; fetching it over libp2p or HTTP). The helpers document.ts shares with fetch.ts
// stay internal.
export {
  canonicalOfferBytes,
  decodeOffer,
  DEFAULT_OFFER_MAX_AGE_SECONDS,
  encodeOffer,
  MAX_OFFER_BYTES,
  OFFER_PROTOCOL,
  OFFER_TYPE,
  OFFER_VERSION,
  parseOfferDocument,
  signOffer,
  verifyOffer,
  type OfferDocument,
  type OfferFields,
  type OfferMismatch,
  type OfferMode,
  type OfferRejection,
  type OfferVerdict,
  type SignedOffer,
  type VerifyOfferOptions,
} from "./document.js";
export { fetchOffer, fetchOfferHttp, type FetchOfferHttpOptions, type FetchOfferOptions, type OfferLibp2p } from "./fetch.js";
