// Entry point `@status/mailserver-sdk/server` (Node-only): what a mail server runs in front of
// its requests: the access gate with its grants, the subscription index and its SQLite storage,
// native signature recovery. Request and grant signing (the client side) are in the package root.
export * from "../gate/index.js";
