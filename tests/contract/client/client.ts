// Uses the types openapi-typescript generates from our OpenAPI document the way the admin UI's
// code does. `tsc --strict` must accept it: if the document stops producing a usable client
// (a renamed schema, `content` without additionalProperties, a body missing under
// application/json), this stops compiling and the test fails.
import type { components, operations, paths } from "./generated/schema";

type Schemas = components["schemas"];

// The names the UI's code imports, with the generator's spelling of the dotted schema names.
export type ConfigSaveRequestSchema_6be28b6 = Schemas["ConfigSaveRequestSchema.6be28b6"];
export type ConfigResponseSchema_6be28b6 = Schemas["ConfigResponseSchema.6be28b6"];
export type ConfigListResponseSchema_6be28b6 = Schemas["ConfigListResponseSchema.6be28b6"];
export type ConfigSummarySchema = Schemas["ConfigListResponseSchema.6be28b6.ConfigSummarySchema"];
export type ErrorResponseSchema_8c5cd6b = Schemas["ErrorResponseSchema.8c5cd6b"];
export type ValidationError_6a07bef = Schemas["ValidationError.6a07bef"];
export type ValidationErrorElement = Schemas["ValidationError.6a07bef.ValidationErrorElement"];

type Json<T> = T extends { content: { "application/json": infer Body } } ? Body : never;

// The list.
type ListAnswer = Json<operations["get__api_configs"]["responses"][200]>;
const listed: ListAnswer = {
  configs: [{ mac_address: "aa-bb-cc-dd-ee-ff", device_name: "Porch", device_entity_id: null, enable_ota: true }],
  count: 1,
};
export const firstMac: string = listed.configs[0].mac_address;
export const summaries: ConfigSummarySchema[] = listed.configs;
export const count: number = listed.count;
export const listAsNamed: ConfigListResponseSchema_6be28b6 = listed;
// Added by this service: optional in the types, so the answer above (built as code written for
// the previous service would) still compiles; a new client reads it.
export const skippedNames: string[] = (listed.skipped ?? []).map((entry) => `${entry.name}: ${entry.reason}`);

// A get by MAC: the path parameter and the answer with arbitrary content.
type GetParameters = operations["get__api_configs_{mac_address}"]["parameters"]["path"];
export const getParameters: GetParameters = { mac_address: "AA:BB:CC:DD:EE:FF" };
type GetAnswer = Json<operations["get__api_configs_{mac_address}"]["responses"][200]>;
const got: GetAnswer = {
  mac_address: "aa-bb-cc-dd-ee-ff",
  device_name: null,
  device_entity_id: null,
  enable_ota: null,
  content: { deviceName: "Porch", wifi: { ssid: "iot" }, sensors: [1, 2] },
};
export const gotAsNamed: ConfigResponseSchema_6be28b6 = got;
export const wifi: unknown = got.content["wifi"];

// A PUT body typed as the contract's schema, with keys the schema does not list in `content`.
type PutBody = Json<NonNullable<operations["put__api_configs_{mac_address}"]["requestBody"]>>;
const saved: ConfigSaveRequestSchema_6be28b6 = {
  content: { deviceName: "Porch", enableOTA: true, anything: { nested: [1, "two", null] } },
  allow_overwrite: false,
};
export const putBody: PutBody = saved;

// A PATCH body under application/json (the generator reads only that media type).
type PatchBody = Json<NonNullable<operations["patch__api_configs_{mac_address}"]["requestBody"]>>;
export const patchBody: PatchBody = { enableOTA: false, wifi: { powerSave: "min_modem" }, mqtt: null };

// The error envelope, as a 404 and as a 409 carry it.
type NotFound = Json<operations["get__api_configs_{mac_address}"]["responses"][404]>;
const notFound: NotFound = {
  error: "Config aa-bb-cc-dd-ee-ff was not found",
  code: "RECORD_NOT_FOUND",
  details: null,
  correlationId: "3f1c9a0e",
};
export const shown: string = notFound.error;
export const asNamedError: ErrorResponseSchema_8c5cd6b = notFound;
type Exists = Json<operations["put__api_configs_{mac_address}"]["responses"][409]>;
export const exists: Exists = {
  error: "Config for aa-bb-cc-dd-ee-ff already exists",
  code: "RECORD_EXISTS",
  details: null,
  correlationId: "3f1c9a0e",
};

// The list's 400 as the previous service documented it.
const invalid: ValidationError_6a07bef = [{ loc: ["body"], msg: "bad", type: "value_error" }];
export const listBadRequest: Json<operations["get__api_configs"]["responses"][400]> = invalid;

// Deletes answer 204 without a body; every path the UI calls exists under its contract name.
export type Deleted = operations["delete__api_configs_{mac_address}"]["responses"][204];
export type ConfigPaths = keyof paths;
export const usedPaths: ConfigPaths[] = [
  "/api/configs",
  "/api/configs/{mac_address}",
  "/api/configs/{mac_address}.json",
  "/api/health",
  "/metrics",
];
